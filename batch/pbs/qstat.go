package pbs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"hpcgate/batch"
)

// qstat -f -F json is not always JSON. Released OpenPBS (up to 23.06) types
// every value with strtod, so an environment value ".5", "123.", "inf" or
// "+5" is printed bare (openpbs/openpbs#1255), and older versions leave
// backslashes that JSON does not know ("\," and "\'", PR #2049). sanitize
// repairs what can be repaired without guessing: a bare value that is not a
// JSON number or literal becomes a string, and an unknown escape keeps its
// backslash literally. Anything else still fails to parse, and the query
// fails with it.
func sanitize(in []byte) []byte {
	out := make([]byte, 0, len(in)+64)
	for i := 0; i < len(in); {
		c := in[i]
		switch {
		case c == '"':
			j := i + 1
			out = append(out, '"')
			for ; j < len(in) && in[j] != '"'; j++ {
				switch {
				case in[j] == '\\' && j+1 < len(in) && strings.IndexByte(`"\/bfnrtu`, in[j+1]) >= 0:
					out = append(out, in[j], in[j+1])
					j++
				case in[j] == '\\':
					out = append(out, '\\', '\\')
				case in[j] < 0x20:
					out = append(out, fmt.Sprintf(`\u%04x`, in[j])...)
				default:
					out = append(out, in[j])
				}
			}
			out = append(out, '"')
			i = j + 1
		case strings.IndexByte("{}[]:, \t\r\n", c) >= 0:
			out = append(out, c)
			i++
		default:
			j := i
			for j < len(in) && strings.IndexByte("{}[]:,\r\n", in[j]) < 0 {
				j++
			}
			tok := bytes.TrimRight(in[i:j], " \t")
			if json.Valid(tok) {
				out = append(out, tok...)
			} else {
				q, _ := json.Marshal(string(tok))
				out = append(out, q...)
			}
			out = append(out, in[i+len(tok):j]...)
			i = j
		}
	}
	return out
}

// qstat -f -F json is hostile text as well as sometimes invalid. OpenPBS
// (pbs_json.c, 22.05 and 23.06) prints each key with "%s", unescaped: a
// Variable_List key is an environment variable name a user chose (qsub -v,
// qsub -V, qalter -v), quotes, braces and newlines included. A value starting
// with '"', or a backslash before a quote, ends its string early. So one job
// can make the whole document invalid JSON, or print lines that look like
// the start of another job. The document is therefore read per job, by its
// lines: the printer puts each node on its own line, indented one step per
// level (4 spaces, or a tab in the cJSON printer of current master), and a
// job starts with a line that is exactly `<2 steps>"<job id>":{` and ends
// with `<2 steps>}`. Each job's piece is decoded alone: a broken one costs
// that job only. A user who forges such lines inside their own job's keys
// can cut their own job short, or add a piece claiming another job's id;
// query sees the duplicate (or a job qstat also called unknown on stderr)
// and acts on neither (see there).

var (
	reOwner       = regexp.MustCompile(`^[a-z0-9_][a-z0-9._-]{0,63}$`)
	reStateLetter = regexp.MustCompile(`^[A-Z]$`)
)

// piece is one job's part of qstat's output.
type piece struct {
	id  string // the full job id, as qstat printed it
	a   attrs  // nil when the piece did not decode
	err error
}

var reJobLine = regexp.MustCompile(`^"([0-9]+(?:\[[0-9]*\])?(?:\.[A-Za-z0-9_.-]+)?)":[ \t]*\{$`)

// maxPiece bounds one job's piece: a job with hundreds of environment
// variables is a few tens of KB.
const maxPiece = 1 << 20

// splitJobs cuts qstat -f -F json output into one piece per job. Output
// without a "Jobs" object (nothing listed, server down) has none.
func splitJobs(out []byte) []piece {
	lines := strings.Split(string(out), "\n")
	step := ""
	i := 0
	for ; i < len(lines); i++ {
		l := lines[i]
		t := strings.TrimLeft(l, " \t")
		if t == `"Jobs":{` || strings.HasPrefix(t, `"Jobs":`) && strings.TrimSpace(strings.TrimPrefix(t, `"Jobs":`)) == "{" {
			step = l[:len(l)-len(t)]
			break
		}
	}
	if step == "" {
		return nil
	}
	indent := step + step
	var pieces []piece
	var cur *piece
	var body []string
	size := 0
	finish := func(closed bool) {
		if cur == nil {
			return
		}
		switch {
		case !closed:
			cur.err = fmt.Errorf("job %s: its record does not end", cur.id)
		case size > maxPiece:
			cur.err = fmt.Errorf("job %s: record of %d bytes is longer than %d", cur.id, size, maxPiece)
		default:
			doc := "{" + strings.Join(body, "\n") + "}"
			var a map[string]json.RawMessage
			if err := json.Unmarshal(sanitize([]byte(doc)), &a); err != nil {
				cur.err = fmt.Errorf("job %s: invalid JSON: %w", cur.id, err)
			} else {
				cur.a = a
			}
		}
		pieces = append(pieces, *cur)
		cur, body, size = nil, nil, 0
	}
	for _, l := range lines[i+1:] {
		rest, ok := strings.CutPrefix(l, indent)
		if ok && rest != "" && rest[0] != ' ' && rest[0] != '\t' {
			if m := reJobLine.FindStringSubmatch(rest); m != nil {
				finish(false) // a job starting inside another: that one is cut short
				cur = &piece{id: m[1]}
				continue
			}
			if rest == "}" || rest == "}," {
				finish(true)
				continue
			}
		}
		if cur != nil {
			size += len(l) + 1
			if size <= maxPiece {
				body = append(body, l)
			}
		}
	}
	finish(false)
	return pieces
}

// str is a raw value as text, whichever JSON type qstat gave it ("Job_Name":
// 123 is the name "123").
func str(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if bytes.Equal(raw, []byte("null")) {
		return ""
	}
	return string(raw)
}

func obj(raw json.RawMessage) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	json.Unmarshal(raw, &m)
	return m
}

// attrs is one job's attributes with typed accessors.
type attrs map[string]json.RawMessage

func (a attrs) str(key string) string { return str(a[key]) }

// sub reads a resource of a grouped attribute: Resource_List.walltime.
func (a attrs) sub(group, key string) string { return str(obj(a[group])[key]) }

func (a attrs) int(key string) (int, bool, error) {
	s := a.str(key)
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, false, fmt.Errorf("%s %q is not a number", key, s)
	}
	return n, true, nil
}

// parseJob turns one job's attributes into a JobStatus; loc is the login
// node's time zone, in which qstat prints ctime(3) times.
func parseJob(id string, a attrs, loc *time.Location) (batch.JobStatus, error) {
	js := batch.JobStatus{
		ID:        id,
		Name:      a.str("Job_Name"),
		RawState:  a.str("job_state"),
		Partition: a.str("queue"),
	}
	js.User, _, _ = strings.Cut(a.str("Job_Owner"), "@")
	switch {
	case !reOwner.MatchString(js.User):
		return js, fmt.Errorf("Job_Owner %s is not user@host", batch.Clip(a.str("Job_Owner")))
	case !reStateLetter.MatchString(js.RawState):
		return js, fmt.Errorf("job_state %s is not a state letter", batch.Clip(js.RawState))
	}
	if h := a.str("exec_host"); h != "" {
		// "node1/0*2+node2/0*2": the first host runs the script.
		first, _, _ := strings.Cut(h, "+")
		js.Node, _, _ = strings.Cut(first, "/")
	}
	var err error
	times := []struct {
		dst *time.Time
		key string
	}{{&js.Submitted, "ctime"}, {&js.Started, "stime"}, {&js.Ended, "obittime"}}
	for _, t := range times {
		if *t.dst, err = parseTime(a.str(t.key), loc); err != nil {
			return js, fmt.Errorf("%s: %w", t.key, err)
		}
	}
	if js.TimeLimit, err = parseWalltime(a.sub("Resource_List", "walltime")); err != nil {
		return js, fmt.Errorf("walltime: %w", err)
	}
	if n := a.sub("Resource_List", "ncpus"); n != "" {
		if js.Cores, err = strconv.Atoi(n); err != nil {
			return js, fmt.Errorf("ncpus %q is not a number", n)
		}
	}
	substate, _, err := a.int("substate")
	if err != nil {
		return js, err
	}
	exit, hasExit, err := a.int("Exit_status")
	if err != nil {
		return js, err
	}
	comment := a.str("comment")

	switch js.RawState {
	case "Q":
		js.State, js.Reason = batch.StatePending, comment
	case "H":
		js.State, js.Reason = batch.StatePending, comment
		if js.Reason == "" {
			js.Reason = holdReason(a.str("Hold_Types"))
		}
	case "W":
		js.State, js.Reason = batch.StatePending, comment
		if at := a.str("Execution_Time"); at != "" && js.Reason == "" {
			js.Reason = "Waiting until " + at
		}
	case "T":
		js.State, js.Reason = batch.StatePending, "In transit to another queue or server"
	case "S":
		// Started, then suspended: neither pending (a queue timeout would
		// cancel a server that ran for hours) nor ended, so deliberately
		// unmapped, as Slurm's SUSPENDED: the server is left alone.
		js.State, js.Reason = batch.StateUnrecognised, "Suspended"
	case "U":
		js.State, js.Reason = batch.StateUnrecognised, "Suspended: the workstation is busy"
	case "R", "B":
		js.State = batch.StateRunning
	case "E":
		js.State = batch.StateCompleting
	case "F", "X":
		js.State, js.ExitCode, js.Reason = finalState(substate, exit, hasExit, comment)
		if js.Ended.IsZero() { // deleted before it ran: no obituary
			if js.Ended, err = parseTime(a.str("mtime"), loc); err != nil {
				return js, fmt.Errorf("mtime: %w", err)
			}
		}
	case "M":
		// Moved to another server, where it may well run: listed here, in
		// no state the hub can act on.
		js.State, js.Reason = batch.StateUnrecognised, "Moved to another server"
	default:
		// A letter this table does not know: surfaced (RawState), not guessed.
		js.State, js.Reason = batch.StateUnrecognised, comment
	}
	if js.State == batch.StatePending {
		start := a.sub("estimated", "start_time")
		if js.EstimatedStart, err = parseTime(start, loc); err != nil {
			return js, fmt.Errorf("estimated.start_time: %w", err)
		}
	}
	return js, nil
}

// Substates of a finished job (job.h JOB_SUBSTATE_*).
const (
	substateTerminated = 91 // deleted (qdel), whatever its exit status
	substateFinished   = 92
	substateFailed     = 93
)

// Exit_status values below zero are PBS's own (job.h JOB_EXEC_*).
var execErrors = map[int]string{
	-1:  "The job could not be executed",
	-2:  "The job could not be executed (no retry)",
	-3:  "The job could not be executed (retry)",
	-4:  "The job was aborted on MoM initialisation",
	-10: "Invalid user or group for the job",
	-11: "The job was rerun",
	-13: "Bad password",
	-24: "Killed: CPU limit exceeded (burst)",
	-25: "Killed: CPU limit exceeded",
	-26: "Killed: virtual memory limit exceeded",
	-27: "Killed: memory limit exceeded",
	-28: "Killed: CPU time limit exceeded",
	-29: "Killed: walltime exceeded",
}

// finalState maps a finished job's substate and Exit_status: 0 is success;
// below zero is a PBS error (-29 is the walltime); 256+N is death by signal
// N, reported as 128+N the way a shell does. A deleted job is cancelled
// whatever it exited with, since the hub's script exits with its app's
// status after the SIGTERM of qdel.
func finalState(substate, exit int, hasExit bool, comment string) (batch.State, int, string) {
	code := exit
	if exit > 256 {
		code = 128 + exit - 256
	}
	switch {
	case substate == substateTerminated:
		return batch.StateCancelled, code, ""
	case !hasExit:
		return batch.StateFailed, 0, "Ended without an exit status"
	case exit == 0:
		return batch.StateCompleted, 0, ""
	case exit == -29:
		return batch.StateTimeout, exit, reasonOr(comment, execErrors[exit])
	case exit < 0:
		msg := execErrors[exit]
		if msg == "" {
			msg = fmt.Sprintf("PBS error %d", exit)
		}
		return batch.StateFailed, exit, reasonOr(comment, msg)
	case exit > 256:
		return batch.StateFailed, code, fmt.Sprintf("Killed by signal %d", exit-256)
	}
	return batch.StateFailed, code, fmt.Sprintf("Exit status %d", exit)
}

// reasonOr prefers PBS's own explanation ("job killed: walltime 6 exceeded
// limit 5") to the generic one, but not the comment every job that ran has.
func reasonOr(comment, generic string) string {
	if comment != "" && !strings.HasPrefix(comment, "Job run at") {
		return comment
	}
	return generic
}

func holdReason(types string) string {
	switch {
	case strings.Contains(types, "o"):
		return "Held by an operator"
	case strings.Contains(types, "s"):
		return "Held by the system"
	case strings.Contains(types, "p"):
		return "Held: bad password"
	}
	return "Held by the user"
}

// parseTime reads qstat's ctime(3) times ("Tue Oct  4 21:23:20 2022");
// UNKNOWN and an empty value mean none. Some versions print epoch seconds.
func parseTime(s string, loc *time.Location) (time.Time, error) {
	switch s {
	case "", "UNKNOWN", "0":
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	t, err := time.ParseInLocation("Mon Jan _2 15:04:05 2006", s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a ctime(3) time", s)
	}
	return t, nil
}

// parseWalltime reads [[HH:]MM:]SS; hours may exceed 24.
func parseWalltime(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	var d time.Duration
	parts := strings.Split(s, ":")
	if len(parts) > 3 {
		return 0, fmt.Errorf("%q is not [[HH:]MM:]SS", s)
	}
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not [[HH:]MM:]SS", s)
		}
		d = d*60 + time.Duration(n)
	}
	return d * time.Second, nil
}
