package sge

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"hpcgate/batch"
)

// qstat -xml escapes names and messages as XML, so no job name can leave
// its element; it writes "<" as "%lt;" (a bug of 8.1.9: a job named "a<b"
// is listed as "a%lt;b"), which is reported as written. qsub refuses names
// with control characters, whitespace and bytes that are not UTF-8, but
// free text is still bounded and stripped of control characters (clean)
// before it leaves this package. Each <job_list> is decoded on its own: a
// field that does not parse costs that field (left zero), never the job or
// the others; only XML that is not well-formed fails the query, since
// nothing after the fault can be trusted.

// jobList is one <job_list> of qstat -xml -r.
type jobList struct {
	Number    string `xml:"JB_job_number"`
	Name      string `xml:"JB_name"`
	Owner     string `xml:"JB_owner"`
	State     string `xml:"state"`
	Submitted string `xml:"JB_submission_time"`
	Started   string `xml:"JAT_start_time"`
	Queue     string `xml:"queue_name"`
	Slots     string `xml:"slots"`
	HardQueue string `xml:"hard_req_queue"`
	Hard      []struct {
		Name  string `xml:"name,attr"`
		Value string `xml:",chardata"`
	} `xml:"hard_request"`
}

// parseList reads every <job_list> of qstat -xml output, in order; loc is
// the login node's time zone, in which qstat prints its times. dropped
// counts the records without a job number, which can be nobody's job.
func parseList(out []byte, loc *time.Location) (jobs []batch.JobStatus, dropped int, err error) {
	d := xml.NewDecoder(bytes.NewReader(out))
	sawRoot := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("qstat printed invalid XML: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "job_info":
			sawRoot = true
		case "job_list":
			var j jobList
			if err := d.DecodeElement(&j, &se); err != nil {
				return nil, 0, fmt.Errorf("qstat printed invalid XML: %w", err)
			}
			if js, ok := j.status(loc); ok {
				jobs = append(jobs, js)
			} else {
				dropped++
			}
		}
	}
	if !sawRoot {
		return nil, 0, fmt.Errorf("qstat printed no <job_info>: %s", batch.Clip(string(out)))
	}
	return jobs, dropped, nil
}

// status turns one record into a JobStatus; ok is false for a record
// without a job number, which cannot be anybody's job.
func (j jobList) status(loc *time.Location) (batch.JobStatus, bool) {
	id := strings.TrimSpace(j.Number)
	if !validID(id) {
		return batch.JobStatus{}, false
	}
	js := batch.JobStatus{
		ID:        id,
		Name:      clean(j.Name, maxName),
		User:      clean(j.Owner, maxName),
		RawState:  clean(strings.TrimSpace(j.State), 16),
		Submitted: parseTime(j.Submitted, loc),
		Started:   parseTime(j.Started, loc),
		Partition: clean(j.HardQueue, maxName),
	}
	// queue_name is "queue@host" once the job has a place.
	if q, host, ok := strings.Cut(strings.TrimSpace(j.Queue), "@"); ok {
		js.Partition, js.Node = clean(q, maxName), clean(host, maxName)
	}
	js.Cores, _ = strconv.Atoi(strings.TrimSpace(j.Slots))
	for _, h := range j.Hard {
		if h.Name == "h_rt" {
			js.TimeLimit = parseDuration(h.Value)
		}
	}
	js.State, js.Reason = mapState(js.RawState)
	return js, true
}

// Reasons Grid Engine's own scheduler gives for the states that say why a
// job waits (qstat -j's "scheduling info" uses the first two).
const (
	ReasonHeld      = "Job is in hold state"
	ReasonError     = "Job is in error state"
	ReasonDeleting  = "Job is being deleted"
	ReasonSuspended = "Job is suspended"
	// A queue suspends its jobs when told to (S) or when its host is past
	// a load threshold (T).
	ReasonQueueSuspended     = "Job is suspended: its queue is suspended"
	ReasonThresholdSuspended = "Job is suspended: its queue's load threshold is exceeded"
)

// mapState maps qstat's state letters, which combine (hqw, Eqw, dr, Rr,
// tS), to a batch.State and, where the letters say why, a reason. A job
// being deleted is ending whatever else it is; an error state keeps the job
// waiting until an administrator clears it (qmod -cj) or it is deleted;
// a suspended job holds its slots but its app cannot answer, so it is
// reported as waiting, as the other adapters do. Letters this table does
// not know are kept in RawState and reported as StateUnrecognised, which
// changes nothing: not guessed.
func mapState(raw string) (batch.State, string) {
	has := func(letters string) bool { return strings.ContainsAny(raw, letters) }
	switch {
	case raw == "":
		return batch.StateUnrecognised, ""
	case has("d"):
		return batch.StateCompleting, ReasonDeleting
	case has("E"):
		return batch.StatePending, ReasonError
	case has("s"):
		return batch.StatePending, ReasonSuspended
	case has("S"):
		return batch.StatePending, ReasonQueueSuspended
	case has("T"):
		return batch.StatePending, ReasonThresholdSuspended
	case has("rt"): // t: being sent to its execd, on its way to running
		return batch.StateRunning, ""
	case has("h"):
		return batch.StatePending, ReasonHeld
	case has("qw"):
		return batch.StatePending, ""
	}
	return batch.StateUnrecognised, ""
}

// detail is qstat -xml -j: one <element> per job it knows, or, when it
// knows none of them, <unknown_jobs> naming each.
type detail struct {
	XMLName xml.Name
	Jobs    []struct {
		Number string `xml:"JB_job_number"`
		Tasks  []struct {
			Messages []string `xml:"JAT_message_list>ulong_sublist>QIM_message"`
		} `xml:"JB_ja_tasks>ulong_sublist"`
	} `xml:"djob_info>element"`
	Unknown []string `xml:"ST_name"`
}

// parseDetail returns, from qstat -xml -j, the jobs it described with the
// error reasons of their tasks, and the ids it says it does not know.
func parseDetail(out []byte) (known map[string]string, unknown []string, err error) {
	var d detail
	if err := xml.Unmarshal(out, &d); err != nil {
		return nil, nil, fmt.Errorf("qstat -j printed invalid XML: %w", err)
	}
	switch d.XMLName.Local {
	case "unknown_jobs":
		for _, id := range d.Unknown {
			if id = strings.TrimSpace(id); validID(id) {
				unknown = append(unknown, id)
			}
		}
		return map[string]string{}, unknown, nil
	case "detailed_job_info":
	default:
		return nil, nil, fmt.Errorf("qstat -j printed <%s>, not a job's details", clean(d.XMLName.Local, 40))
	}
	known = map[string]string{}
	for _, j := range d.Jobs {
		id := strings.TrimSpace(j.Number)
		if !validID(id) {
			continue
		}
		var msgs []string
		for _, t := range j.Tasks {
			for _, m := range t.Messages {
				msgs = append(msgs, errorWords(m))
			}
		}
		known[id] = clean(strings.Join(msgs, "; "), maxReason)
	}
	return known, nil, nil
}

// errorWords drops the time and [uid:pid] an error reason starts with:
// `12/03/2026 09:34:37 [2002:3894]: error: can't open output file "x"`.
func errorWords(m string) string {
	if _, rest, ok := strings.Cut(m, "]: "); ok {
		return strings.TrimSpace(rest)
	}
	return strings.TrimSpace(m)
}

// Bounds on free text from the scheduler.
const (
	maxName   = 256
	maxReason = 1024
)

// clean bounds s to max bytes (at a rune boundary) and replaces control
// characters and invalid UTF-8, so scheduler text cannot forge log lines
// or terminal escapes.
func clean(s string, max int) string {
	if len(s) > max {
		s = s[:max]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

// parseTime reads qstat -xml's local times ("2026-12-03T09:34:11"); an
// empty or unreadable time is none.
func parseTime(s string, loc *time.Location) time.Time {
	t, err := time.ParseInLocation("2006-01-02T15:04:05", strings.TrimSpace(s), loc)
	if err != nil {
		return time.Time{}
	}
	return t
}

// parseDuration reads a Grid Engine TIME value: seconds, or
// [[H:]M:]S with hours past 24; "INFINITY" and the unreadable are none.
func parseDuration(s string) time.Duration {
	var d time.Duration
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) > 3 {
		return 0
	}
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return 0
		}
		d = d*60 + time.Duration(n)
	}
	return d * time.Second
}
