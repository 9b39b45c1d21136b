package slurm

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"hpcgate/batch"
)

// The squeue output is read field by field with separators no job name or
// reason can hold: a name may contain spaces and, through sbatch -J, even a
// newline, and pending reasons are free text ("ReqNodeNotAvail,
// UnavailableNodes:n1"). Every field is unpadded (-O "Field:suffix" with no
// size) and followed by the unit separator; each record ends with the record
// separator. testdata/slurm/record.sh builds the same strings.
const (
	unitSep   = "\x1f"
	recordSep = "\x1e"
)

// fields is the squeue -O field list, in the order parseRecord reads them.
var fields = []string{
	"JobID", "Name", "UserName", "State", "Reason", "Partition", "BatchHost",
	"exit_code", "SubmitTime", "StartTime", "EndTime", "TimeLimit", "NumCPUs",
}

const (
	fID = iota
	fName
	fUser
	fState
	fReason
	fPartition
	fBatchHost
	fExitCode
	fSubmit
	fStart
	fEnd
	fTimeLimit
	fCPUs
	nFields
)

// statusFormat is the -O argument: "JobID:\x1f,Name:\x1f,…,NumCPUs:\x1e".
var statusFormat = func() string {
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(f + ":")
		if i < len(fields)-1 {
			b.WriteString(unitSep)
		} else {
			b.WriteString(recordSep)
		}
	}
	return b.String()
}()

// startFormat is the -o argument for squeue --start (which ignores -O).
const startFormat = "%i" + unitSep + "%S" + recordSep

// records splits squeue output into records of n fields each.
func records(out []byte, n int) ([][]string, error) {
	var recs [][]string
	for _, rec := range bytes.Split(out, []byte(recordSep)) {
		// Each record but the first starts with the newline that ended the
		// previous one; the last piece is the final newline.
		rec = bytes.TrimPrefix(rec, []byte("\n"))
		if len(bytes.TrimSpace(rec)) == 0 {
			continue
		}
		f := strings.Split(string(rec), unitSep)
		if len(f) != n {
			return nil, fmt.Errorf("squeue output record %q has %d fields, want %d", rec, len(f), n)
		}
		recs = append(recs, f)
	}
	return recs, nil
}

// parseStatus parses the output of squeue -O statusFormat. Times are read in
// loc, the login node's time zone (squeue prints local times without one).
func parseStatus(out []byte, loc *time.Location) ([]batch.JobStatus, error) {
	recs, err := records(out, nFields)
	if err != nil {
		return nil, err
	}
	jobs := make([]batch.JobStatus, 0, len(recs))
	for _, f := range recs {
		js, err := parseRecord(f, loc)
		if err != nil {
			return nil, fmt.Errorf("squeue output for job %q: %w", f[fID], err)
		}
		jobs = append(jobs, js)
	}
	return jobs, nil
}

func parseRecord(f []string, loc *time.Location) (batch.JobStatus, error) {
	js := batch.JobStatus{
		ID:        f[fID],
		Name:      f[fName],
		User:      f[fUser],
		RawState:  f[fState],
		Partition: f[fPartition],
	}
	if js.ID == "" {
		return js, fmt.Errorf("no job id")
	}
	js.State, js.Reason = mapState(f[fState], f[fReason])
	if h := f[fBatchHost]; h != "n/a" && h != "(null)" {
		js.Node = h
	}
	var err error
	if js.ExitCode, err = parseExitCode(f[fExitCode]); err != nil {
		return js, err
	}
	if js.Submitted, err = parseTime(f[fSubmit], loc); err != nil {
		return js, fmt.Errorf("submit time: %w", err)
	}
	start, err := parseTime(f[fStart], loc)
	if err != nil {
		return js, fmt.Errorf("start time: %w", err)
	}
	// For a queued job StartTime is the backfill scheduler's estimate and
	// EndTime that plus the limit: neither has happened. (A suspended job is
	// reported pending too, but it did start.)
	if js.State == batch.StatePending && !suspended(f[fState]) {
		js.EstimatedStart = start
	} else {
		js.Started = start
		if js.State.Terminal() || js.State == batch.StateCompleting {
			if js.Ended, err = parseTime(f[fEnd], loc); err != nil {
				return js, fmt.Errorf("end time: %w", err)
			}
		}
	}
	if js.TimeLimit, err = parseDuration(f[fTimeLimit]); err != nil {
		return js, fmt.Errorf("time limit: %w", err)
	}
	if js.Cores, err = strconv.Atoi(f[fCPUs]); err != nil {
		return js, fmt.Errorf("cpus %q: %w", f[fCPUs], err)
	}
	return js, nil
}

// mapState maps Slurm's long state name and reason to a batch.State and the
// reason worth showing. The first word counts: sacct writes "CANCELLED by
// 2001". A state this table does not know (a newer Slurm's) is StateUnknown
// with RawState kept, so it is surfaced rather than guessed.
func mapState(raw, reason string) (batch.State, string) {
	word, _, _ := strings.Cut(strings.TrimSpace(raw), " ")
	word = strings.TrimSuffix(word, "+") // sacct marks truncated states with "+"
	if reason == "None" || reason == "(null)" {
		reason = ""
	}
	switch word {
	case "PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
		"RESV_DEL_HOLD", "SPECIAL_EXIT":
		return batch.StatePending, reason
	case "SUSPENDED", "STOPPED":
		// The job keeps its allocation but its processes are stopped: the
		// app cannot answer, so it is reported as waiting, with why.
		if reason == "" {
			reason = titleCase(word)
		}
		return batch.StatePending, reason
	case "RUNNING", "RESIZING", "SIGNALING":
		return batch.StateRunning, reason
	case "COMPLETING", "STAGE_OUT":
		return batch.StateCompleting, reason
	case "COMPLETED":
		return batch.StateCompleted, ""
	case "FAILED", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL":
		if reason == "" {
			reason = titleCase(word)
		}
		return batch.StateFailed, reason
	case "CANCELLED", "REVOKED":
		// The reason of a job cancelled while pending is still its pending
		// reason (JobHeldUser, BeginTime): no longer true, so dropped.
		return batch.StateCancelled, ""
	case "PREEMPTED":
		return batch.StateCancelled, "Preempted"
	case "TIMEOUT":
		return batch.StateTimeout, reason
	case "DEADLINE":
		return batch.StateTimeout, "Deadline"
	}
	return batch.StateUnknown, reason
}

// suspended reports whether raw is a state of a job that started and was
// then stopped.
func suspended(raw string) bool { return raw == "SUSPENDED" || raw == "STOPPED" }

func titleCase(word string) string {
	w := strings.ToLower(strings.ReplaceAll(word, "_", " "))
	return strings.ToUpper(w[:1]) + w[1:]
}

// parseExitCode decodes squeue's exit_code, the job's raw wait(2) status
// (768 is exit 3, 9 is killed by SIGKILL). A signal is reported as 128+sig,
// the way a shell reports it.
func parseExitCode(s string) (int, error) {
	if s == "" || s == "N/A" {
		return 0, nil
	}
	// sacct and scontrol print "exit:signal".
	if code, sig, ok := strings.Cut(s, ":"); ok {
		c, err1 := strconv.Atoi(code)
		g, err2 := strconv.Atoi(sig)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("exit code %q is not exit:signal", s)
		}
		if g != 0 {
			return 128 + g, nil
		}
		return c, nil
	}
	st, err := strconv.Atoi(s)
	if err != nil || st < 0 {
		return 0, fmt.Errorf("exit code %q is not a wait status", s)
	}
	if sig := st & 0x7f; sig != 0 {
		return 128 + sig, nil
	}
	return (st >> 8) & 0xff, nil
}

// parseTime reads squeue's YYYY-MM-DDTHH:MM:SS; N/A, Unknown and None mean
// no time. Another layout means SLURM_TIME_FORMAT is set on the login node,
// which the hub cannot parse reliably: that is an error, not a guess.
func parseTime(s string, loc *time.Location) (time.Time, error) {
	switch s {
	case "", "N/A", "Unknown", "None", "NONE", "(null)":
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05", s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not YYYY-MM-DDTHH:MM:SS (is SLURM_TIME_FORMAT set on the login node?)", s)
	}
	return t, nil
}

// parseDuration reads a Slurm time limit: [days-]hours:minutes:seconds,
// minutes:seconds, or UNLIMITED/NOT_SET/INVALID (no limit: zero).
func parseDuration(s string) (time.Duration, error) {
	switch s {
	case "", "UNLIMITED", "NOT_SET", "INVALID", "N/A", "Partition_Limit":
		return 0, nil
	}
	var days int
	if d, rest, ok := strings.Cut(s, "-"); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0, fmt.Errorf("%q: bad day count", s)
		}
		days, s = n, rest
	}
	parts := strings.Split(s, ":")
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a Slurm time", s)
		}
		nums[i] = n
	}
	var h, m, sec int
	switch {
	case len(nums) == 3:
		h, m, sec = nums[0], nums[1], nums[2]
	case len(nums) == 2 && days > 0: // days-hours:minutes
		h, m = nums[0], nums[1]
	case len(nums) == 2: // minutes:seconds
		m, sec = nums[0], nums[1]
	case len(nums) == 1 && days > 0: // days-hours
		h = nums[0]
	case len(nums) == 1: // minutes
		m = nums[0]
	default:
		return 0, fmt.Errorf("%q is not a Slurm time", s)
	}
	return time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour +
		time.Duration(m)*time.Minute + time.Duration(sec)*time.Second, nil
}

// parseStart parses squeue --start -o startFormat: id and expected start;
// jobs without an estimate (N/A) are left out.
func parseStart(out []byte, loc *time.Location) (map[string]time.Time, error) {
	recs, err := records(out, 2)
	if err != nil {
		return nil, err
	}
	starts := make(map[string]time.Time, len(recs))
	for _, f := range recs {
		t, err := parseTime(f[1], loc)
		if err != nil {
			return nil, fmt.Errorf("squeue --start for job %q: %w", f[0], err)
		}
		if !t.IsZero() {
			starts[f[0]] = t
		}
	}
	return starts, nil
}

// parseJobID reads sbatch --parsable's answer: "id" or "id;cluster".
func parseJobID(out []byte) (string, error) {
	s := strings.TrimSpace(string(out))
	id, _, _ := strings.Cut(s, ";")
	if !validID(id) {
		return "", fmt.Errorf("sbatch --parsable printed %q, not a job id", s)
	}
	return id, nil
}

// validID accepts what the hub may pass on a command line as a job id: a
// number, optionally an array task ("12_3") or heterogeneous component
// ("12+1"). Anything else could be taken as an option.
func validID(id string) bool {
	if id == "" || len(id) > 40 {
		return false
	}
	num, rest, found := strings.Cut(id, "_")
	if !found {
		num, rest, found = strings.Cut(id, "+")
	}
	if !digits(num) {
		return false
	}
	return !found || digits(rest)
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
