package sge

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"hpcgate/batch"
)

// qacct -j ID prints one record per run of the job (a rescheduled job has
// several; the last is how it ended), each after a line of "=" and made of
// "key   value" lines. Grid Engine writes the record when the job ends, so
// qacct knows only jobs that started: one deleted while it waited has no
// record ("error: job id 7 not found", exit 1). The accounting file is
// readable by every user.

// acctRecord is the fields of one qacct record the adapter reads.
type acctRecord map[string]string

func parseAcct(out []byte) []acctRecord {
	var recs []acctRecord
	var cur acctRecord
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "=====") {
			cur = acctRecord{}
			recs = append(recs, cur)
			continue
		}
		if cur == nil {
			continue
		}
		key, value, ok := strings.Cut(line, " ")
		if !ok || key == "" {
			continue
		}
		cur[key] = strings.TrimSpace(value)
	}
	return recs
}

// leadingInt reads the number a field starts with: "37  : qmaster
// enforced h_rt…", "143   (Terminated)".
func leadingInt(s string) (int, bool) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(f[0])
	return n, err == nil
}

// Failure codes of Grid Engine's accounting (the "failed" field) that the
// state depends on.
const (
	failedNone    = 0
	failedLimit   = 37  // the qmaster enforced h_rt, h_cpu or h_vmem
	failedAfter   = 100 // killed by a signal Grid Engine sent ("assumedly after job")
	exitByTerm    = 128 + 15
	exitByKill    = 128 + 9
	wallclockSlop = 5 * time.Second
)

var reCategoryRT = regexp.MustCompile(`(?:^|[ ,])h_rt=([0-9:]+)`)

// status turns the record of an ended job into its final JobStatus.
func (r acctRecord) status(id string, loc *time.Location) batch.JobStatus {
	js := batch.JobStatus{
		ID:        id,
		Name:      clean(r["jobname"], maxName),
		User:      clean(r["owner"], maxName),
		Partition: clean(r["qname"], maxName),
		Node:      clean(r["hostname"], maxName),
		RawState:  "ended",
		Submitted: parseCtime(r["qsub_time"], loc),
		Started:   parseCtime(r["start_time"], loc),
		Ended:     parseCtime(r["end_time"], loc),
	}
	js.Cores, _ = strconv.Atoi(r["slots"])
	if m := reCategoryRT.FindStringSubmatch(r["category"]); m != nil {
		js.TimeLimit = parseDuration(m[1])
	}
	failed, _ := leadingInt(r["failed"])
	exit, hasExit := leadingInt(r["exit_status"])
	js.ExitCode = exit
	failedWords := clean(failedText(r["failed"]), maxReason)
	wallclock := parseDuration(strings.TrimSuffix(r["ru_wallclock"], "s"))
	switch {
	case !hasExit:
		js.State, js.Reason = batch.StateFailed, "Ended without an exit status"
	case failed == failedNone && exit == 0:
		js.State = batch.StateCompleted
	case failed == failedLimit && js.TimeLimit > 0 && wallclock+wallclockSlop >= js.TimeLimit:
		js.State, js.Reason = batch.StateTimeout, failedWords
	case failed == failedAfter && (exit == exitByKill || exit == exitByTerm),
		// A queue whose terminate_method is SIGTERM lets the job exit on
		// its own after qdel: the job reports the app's death by SIGTERM.
		failed == failedNone && exit == exitByTerm:
		js.State, js.Reason = batch.StateCancelled, fmt.Sprintf("Ended by signal %d", exit-128)
	case failed != failedNone:
		js.State, js.Reason = batch.StateFailed, failedWords
	default:
		js.State, js.Reason = batch.StateFailed, fmt.Sprintf("Exit status %d", exit)
	}
	return js
}

// failedText is the words after the code: "37  : qmaster enforced h_rt, …"
// says "qmaster enforced h_rt, …".
func failedText(s string) string {
	if _, words, ok := strings.Cut(s, ":"); ok {
		return strings.TrimSpace(words)
	}
	return strings.TrimSpace(s)
}

// parseCtime reads qacct's ctime(3) times ("Thu Dec  3 09:36:04 2026");
// "-/-" (never started) and the unreadable are none.
func parseCtime(s string, loc *time.Location) time.Time {
	t, err := time.ParseInLocation("Mon Jan _2 15:04:05 2006", strings.TrimSpace(s), loc)
	if err != nil {
		return time.Time{}
	}
	return t
}
