package slurm

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"hpcgate/batch"
)

// The squeue output is hostile text: any cluster user can name a job
// anything up to about a kilobyte (sbatch -J, scontrol update JobName=),
// control characters, newlines and fake records included, and squeue prints
// the name byte for byte (measured on 22.05, testdata/slurm/hostile-*). So a
// record is laid out for the parser, not for people:
//
//	JobID US UserName US State US Partition US BatchHost US exit_code US
//	SubmitTime US StartTime US EndTime US TimeLimit US NumCPUs
//	US+nonce Name US+nonce Reason RS+nonce "\n"
//
// The fixed fields come first and are Slurm's own words (ids, users,
// states, node and partition names, numbers, times); each is validated. The
// free text (Name, Reason) comes last, and every separator around it and at
// the end of the record carries a nonce drawn at random for each query: a
// name can hold U+001E or U+001F, but not a string nobody could know when the
// job was named, so it cannot end its record or start another. A record that
// does not fit this layout is dropped on its own; the others are kept.
//
// squeue --json escapes names correctly, but 22.05 ignores -j with it, so
// every poll would carry the whole queue at about 3.8 KB per job (the -O
// record is about 200 bytes): one layout serves every query instead.
const (
	unitSep   = "\x1f"
	recordSep = "\x1e"
	// maxRecord bounds one record: 11 short fixed fields, a name Slurm caps
	// near 1 KB and a reason. A longer record is malformed, not parsed.
	maxRecord = 16 << 10
)

// fixedFields is the squeue -O list of fields that are not free text, in the
// order parseRecord reads them; Name and Reason follow them.
var fixedFields = []string{
	"JobID", "UserName", "State", "Partition", "BatchHost",
	"exit_code", "SubmitTime", "StartTime", "EndTime", "TimeLimit", "NumCPUs",
}

const (
	fID = iota
	fUser
	fState
	fPartition
	fBatchHost
	fExitCode
	fSubmit
	fStart
	fEnd
	fTimeLimit
	fCPUs
	nFixed
)

// newNonce draws a query's separator nonce: 16 hex digits, so that squeue's
// field-size parser (strtol after the colon) never takes it for a width; it
// always follows a control character anyway.
func newNonce() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("slurm: no randomness for the squeue nonce: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// statusFormat is the -O argument for one query with this nonce:
// "JobID:\x1f,…,NumCPUs:\x1fN,Name:\x1fN,Reason:\x1eN".
func statusFormat(nonce string) string {
	var b strings.Builder
	for i, f := range fixedFields {
		b.WriteString(f + ":" + unitSep)
		if i == len(fixedFields)-1 {
			b.WriteString(nonce)
		}
		b.WriteString(",")
	}
	b.WriteString("Name:" + unitSep + nonce + ",Reason:" + recordSep + nonce)
	return b.String()
}

// startFormat is the -o argument for squeue --start (which ignores -O). Its
// two fields are a job id and a time, never free text.
const startFormat = "%i" + unitSep + "%S" + recordSep

// records splits output into records at sep. Each record but the first
// starts with the newline that ended the previous one; the last piece is the
// final newline.
func records(out []byte, sep string) []string {
	var recs []string
	for _, rec := range strings.Split(string(out), sep) {
		rec = strings.TrimPrefix(rec, "\n")
		if strings.TrimSpace(rec) == "" {
			continue
		}
		recs = append(recs, rec)
	}
	return recs
}

// splitRecord cuts one status record into its fixed fields, name and reason.
func splitRecord(rec, nonce string) (fixed []string, name, reason string, err error) {
	if len(rec) > maxRecord {
		return nil, "", "", fmt.Errorf("record of %d bytes is longer than %d", len(rec), maxRecord)
	}
	parts := strings.Split(rec, unitSep+nonce)
	if len(parts) != 3 {
		return nil, "", "", fmt.Errorf("record has %d parts, want fixed fields, name and reason", len(parts))
	}
	fixed = strings.Split(parts[0], unitSep)
	if len(fixed) != nFixed {
		return nil, "", "", fmt.Errorf("record has %d fixed fields, want %d", len(fixed), nFixed)
	}
	return fixed, parts[1], parts[2], nil
}

// Malformed is a record a parser dropped, and why. Field values in Err are
// clipped: the text is hostile.
type Malformed struct {
	Index int // the record's position in the output, from 0
	Err   error
}

// parseStatus parses the output of squeue -O statusFormat(nonce). Times are
// read in loc, the login node's time zone (squeue prints local times without
// one). A malformed record costs nothing but itself: it is reported in bad,
// and if its job id is still readable the job is listed as unreadable
// (unreadable), so the job is neither guessed at nor taken for gone. Two
// records with one job id make that job unreadable too: one of them cannot
// be Slurm's.
func parseStatus(out []byte, nonce string, loc *time.Location) (jobs []batch.JobStatus, bad []Malformed) {
	recs := records(out, recordSep+nonce)
	jobs = make([]batch.JobStatus, 0, len(recs))
	at := map[string]int{} // job id → index in jobs
	add := func(js batch.JobStatus) {
		if i, dup := at[js.ID]; dup {
			jobs[i] = unreadable(js.ID, "listed more than once")
			return
		}
		at[js.ID] = len(jobs)
		jobs = append(jobs, js)
	}
	for i, rec := range recs {
		fixed, name, reason, err := splitRecord(rec, nonce)
		if err == nil {
			var js batch.JobStatus
			if js, err = parseRecord(fixed, name, reason, loc); err == nil {
				if _, dup := at[js.ID]; dup {
					bad = append(bad, Malformed{Index: i, Err: fmt.Errorf("job %s is listed more than once", js.ID)})
				}
				add(js)
				continue
			}
		}
		bad = append(bad, Malformed{Index: i, Err: err})
		if id, _, _ := strings.Cut(rec, unitSep); reListedID.MatchString(strings.TrimPrefix(id, "\n")) {
			add(unreadable(strings.TrimPrefix(id, "\n"), "malformed"))
		}
	}
	return jobs, bad
}

// unreadable is a job squeue listed in a record that could not be read:
// listed, so not gone, and in no state the hub may act on. It has no owner
// or name, so the hub does not take it for any server's job.
func unreadable(id, why string) batch.JobStatus {
	return batch.JobStatus{ID: id, State: batch.StateUnrecognised, RawState: "UNREADABLE",
		Reason: "squeue's record of this job was " + why + " and was not read"}
}

var (
	// reListedID is a job id as squeue lists it: 12, an array task 12_3, a
	// pending array 12_[1-5%2], a heterogeneous component 12+1.
	reListedID = regexp.MustCompile(`^[0-9]{1,20}(_[0-9]{1,10}|_\[[0-9,%-]{1,200}\]|\+[0-9]{1,5})?$`)
	// reStateWord is a Slurm state name (JOB_STATE_BASE and flags).
	reStateWord = regexp.MustCompile(`^[A-Z_]{1,32}$`)
	// reListedUser is a user name, or the uid squeue prints when it cannot
	// resolve one.
	reListedUser = regexp.MustCompile(`^[a-z0-9_][a-z0-9._-]{0,63}$`)
	// reNames is a partition or node name, or a comma-separated list of
	// partitions (a job submitted to several).
	reNames = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.,-]{0,254}$`)
)

// clip is batch.Clip, short for the many errors below.
func clip(s string) string { return batch.Clip(s) }

func parseRecord(f []string, name, reason string, loc *time.Location) (batch.JobStatus, error) {
	js := batch.JobStatus{
		ID:        f[fID],
		Name:      name,
		User:      f[fUser],
		RawState:  f[fState],
		Partition: f[fPartition],
	}
	switch {
	case !reListedID.MatchString(js.ID):
		return js, fmt.Errorf("job id %s is not a Slurm job id", clip(js.ID))
	case !reListedUser.MatchString(js.User):
		return js, fmt.Errorf("job %s: user %s is not a user name", js.ID, clip(js.User))
	case !reStateWord.MatchString(js.RawState):
		return js, fmt.Errorf("job %s: state %s is not a Slurm state word", js.ID, clip(js.RawState))
	case js.Partition != "" && !reNames.MatchString(js.Partition):
		return js, fmt.Errorf("job %s: partition %s is not a partition name", js.ID, clip(js.Partition))
	}
	js.State, js.Reason = mapState(f[fState], reason)
	switch h := f[fBatchHost]; {
	case h == "" || h == "n/a" || h == "(null)":
	case reNames.MatchString(h) && !strings.Contains(h, ","):
		js.Node = h
	default:
		return js, fmt.Errorf("job %s: batch host %s is not a node name", js.ID, clip(h))
	}
	var err error
	if js.ExitCode, err = parseExitCode(f[fExitCode]); err != nil {
		return js, fmt.Errorf("job %s: %w", js.ID, err)
	}
	if js.Submitted, err = parseTime(f[fSubmit], loc); err != nil {
		return js, fmt.Errorf("job %s: submit time: %w", js.ID, err)
	}
	start, err := parseTime(f[fStart], loc)
	if err != nil {
		return js, fmt.Errorf("job %s: start time: %w", js.ID, err)
	}
	// For a queued job StartTime is the backfill scheduler's estimate and
	// EndTime that plus the limit: neither has happened.
	if js.State == batch.StatePending {
		js.EstimatedStart = start
	} else {
		js.Started = start
		if js.State.Terminal() || js.State == batch.StateCompleting {
			if js.Ended, err = parseTime(f[fEnd], loc); err != nil {
				return js, fmt.Errorf("job %s: end time: %w", js.ID, err)
			}
		}
	}
	if js.TimeLimit, err = parseDuration(f[fTimeLimit]); err != nil {
		return js, fmt.Errorf("job %s: time limit: %w", js.ID, err)
	}
	if js.Cores, err = strconv.Atoi(f[fCPUs]); err != nil || js.Cores < 0 {
		return js, fmt.Errorf("job %s: cpus %s is not a number", js.ID, clip(f[fCPUs]))
	}
	return js, nil
}

// mapState maps Slurm's long state name and reason to a batch.State and the
// reason worth showing. The first word counts: sacct writes "CANCELLED by
// 2001".
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
		// Started, then paused (an admin's scontrol suspend, the user's
		// scancel --signal=STOP): the job keeps its allocation and resumes
		// where it was. hpcgate has no server state for that, and neither
		// pending (a queue timeout would cancel a server that ran for
		// hours) nor ended is true, so it is deliberately left unmapped:
		// the server is left alone and the word is shown.
		if reason == "" {
			reason = titleCase(word)
		}
		return batch.StateUnrecognised, reason
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
	// A word this table does not know (a newer Slurm's) says the job is
	// still listed, nothing more: it is surfaced (RawState), not guessed.
	return batch.StateUnrecognised, reason
}

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
			return 0, fmt.Errorf("exit code %s is not exit:signal", clip(s))
		}
		if g != 0 {
			return 128 + g, nil
		}
		return c, nil
	}
	st, err := strconv.Atoi(s)
	if err != nil || st < 0 {
		return 0, fmt.Errorf("exit code %s is not a wait status", clip(s))
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
		return time.Time{}, fmt.Errorf("%s is not YYYY-MM-DDTHH:MM:SS (is SLURM_TIME_FORMAT set on the login node?)", clip(s))
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
			return 0, fmt.Errorf("%s: bad day count", clip(s))
		}
		days, s = n, rest
	}
	parts := strings.Split(s, ":")
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s is not a Slurm time", clip(s))
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
		return 0, fmt.Errorf("%s is not a Slurm time", clip(s))
	}
	return time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour +
		time.Duration(m)*time.Minute + time.Duration(sec)*time.Second, nil
}

// parseStart parses squeue --start -o startFormat: id and expected start;
// jobs without an estimate (N/A) are left out, and so is a malformed record
// (reported in bad).
func parseStart(out []byte, loc *time.Location) (starts map[string]time.Time, bad []Malformed) {
	recs := records(out, recordSep)
	starts = make(map[string]time.Time, len(recs))
	for i, rec := range recs {
		f := strings.Split(rec, unitSep)
		if len(f) != 2 || !reListedID.MatchString(f[0]) {
			bad = append(bad, Malformed{Index: i, Err: fmt.Errorf("squeue --start record %s is not id and time", clip(rec))})
			continue
		}
		t, err := parseTime(f[1], loc)
		if err != nil {
			bad = append(bad, Malformed{Index: i, Err: fmt.Errorf("job %s: estimated start: %w", f[0], err)})
			continue
		}
		if !t.IsZero() {
			starts[f[0]] = t
		}
	}
	return starts, bad
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
