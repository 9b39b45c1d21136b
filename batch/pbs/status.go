package pbs

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"hpcgate/batch"
)

// How qstat -f -F json answers for ids it does not know: it still prints
// the JSON for the ones it knows on stdout, one line per other id on stderr
// ("qstat: Unknown Job Id 7.server", or without -x "qstat: 7.server Job has
// finished, use -x or -H …"), and exits with the last error (153, 35).
// query parses both, so one unknown id never hides the others; any other
// stderr line fails the query, since it would be a real error.

var (
	reUnknown  = regexp.MustCompile(`^qstat: Unknown Job Id (\S+)$`)
	reFinished = regexp.MustCompile(`^qstat: (\S+) Job has finished`)
)

// result is one qstat call: the jobs it listed, keyed by the id asked for,
// and the ids it said it does not know (or no longer shows).
type result struct {
	jobs map[string]batch.JobStatus
	gone map[string]bool
}

// statusQuery is qstat's argv for ids, with -x so finished jobs are listed
// with their exit status while the server keeps history.
func statusQuery(ids []string) []string {
	return append([]string{"qstat", "-f", "-F", "json", "-x"}, ids...)
}

func (s *Scheduler) query(ctx context.Context, asked []string) (result, error) {
	out, err := s.run(ctx, "", nil, statusQuery(asked)...)
	res := result{jobs: map[string]batch.JobStatus{}, gone: map[string]bool{}}
	ids := newMatcher(asked)
	if err != nil {
		var ce *batch.CommandError
		if !errors.As(err, &ce) || (ce.ExitCode != exitUnknownJob && ce.ExitCode != exitFinished) {
			return res, err
		}
		for _, line := range strings.Split(strings.TrimSpace(ce.Stderr), "\n") {
			m := reUnknown.FindStringSubmatch(line)
			if m == nil {
				m = reFinished.FindStringSubmatch(line)
			}
			id := ""
			if m != nil {
				id = ids.match(m[1])
			}
			if id == "" {
				return res, err
			}
			res.gone[id] = true
		}
	}
	var bad []string
	for _, p := range splitJobs(out) {
		id := ids.match(p.id)
		switch {
		case id == "":
			continue // not asked for
		case res.gone[id]:
			// qstat said on stderr, where no job's text reaches, that it
			// does not know this job: a piece claiming it was forged.
			bad = append(bad, fmt.Sprintf("job %s is listed although qstat called it unknown", batch.Clip(p.id)))
			continue
		}
		js, err := p.status(s.opts.Location)
		if err != nil {
			bad = append(bad, err.Error())
			js = unreadable(id, "malformed")
		}
		js.ID = id
		if _, dup := res.jobs[id]; dup {
			bad = append(bad, fmt.Sprintf("job %s is listed more than once", batch.Clip(p.id)))
			js = unreadable(id, "listed more than once")
		}
		res.jobs[id] = js
	}
	s.dropped(bad, len(res.jobs))
	return res, nil
}

// status parses one piece; an error says which job and why, bounded.
func (p piece) status(loc *time.Location) (batch.JobStatus, error) {
	if p.err != nil {
		return batch.JobStatus{}, p.err
	}
	js, err := parseJob(p.id, p.a, loc)
	if err != nil {
		return js, fmt.Errorf("job %s: %w", p.id, err)
	}
	return js, nil
}

// unreadable is a job qstat listed in a piece that could not be read:
// listed, so not gone, and in no state the hub may act on. It has no owner
// or name, so the hub does not take it for any server's job.
func unreadable(id, why string) batch.JobStatus {
	return batch.JobStatus{ID: id, State: batch.StateUnrecognised, RawState: "UNREADABLE",
		Reason: "qstat's record of this job was " + why + " and was not read"}
}

// dropped logs the unreadable records of one query in one bounded line.
func (s *Scheduler) dropped(bad []string, kept int) {
	if len(bad) == 0 {
		return
	}
	const show = 3
	reasons := bad[:min(show, len(bad))]
	for i, r := range reasons {
		if len(r) > 200 {
			reasons[i] = r[:200] + "…"
		}
	}
	s.opts.Logger.Warn("qstat: unreadable job records; the others are kept",
		"scheduler", "pbs", "unreadable", len(bad), "kept", kept, "reasons", strings.Join(reasons, "; "))
}

// matcher finds which asked-for id names a job qstat calls by its full
// id: the same, or the same sequence number when the hub holds the id
// without its server suffix (qstat always prints one).
type matcher struct{ exact, seq map[string]string }

func newMatcher(ids []string) matcher {
	m := matcher{exact: map[string]string{}, seq: map[string]string{}}
	for _, id := range ids {
		if strings.Contains(id, ".") {
			m.exact[id] = id
		} else {
			m.seq[id] = id
		}
	}
	return m
}

func (m matcher) match(full string) string {
	if id, ok := m.exact[full]; ok {
		return id
	}
	seq, _, _ := strings.Cut(full, ".")
	return m.seq[seq]
}

// Status reports on ids in one qstat call. Ids PBS no longer knows are
// absent; a failed query is an error.
func (s *Scheduler) Status(ctx context.Context, ids []string) (map[string]batch.JobStatus, error) {
	ids, err := batch.JobIDs(ids, validID, "PBS")
	if err != nil {
		return nil, fmt.Errorf("job status: %w", err)
	}
	if len(ids) == 0 {
		return map[string]batch.JobStatus{}, nil
	}
	res, err := s.query(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("status of %d jobs: %w", len(ids), err)
	}
	return res.jobs, nil
}

// Gone is the Reason of a History entry for a job PBS no longer knows.
const Gone = "ended: PBS no longer knows the job (its history expired or is disabled), so how it ended is unknown"

// History is the second signal that a job missing from Status has ended,
// from the same one qstat -x call. Every id in the result has ended: a job
// still in the server's history has its final state and exit status; a job
// qstat names as unknown ("Unknown Job Id", or "Job has finished" from a
// server without -x) has State StateUnknown and Reason Gone. Pending and
// running jobs are not in the result, nor are ids qstat neither listed nor
// named: only PBS's explicit word confirms a job is gone.
func (s *Scheduler) History(ctx context.Context, ids []string) (map[string]batch.JobStatus, error) {
	ids, err := batch.JobIDs(ids, validID, "PBS")
	if err != nil {
		return nil, fmt.Errorf("job history: %w", err)
	}
	if len(ids) == 0 {
		return map[string]batch.JobStatus{}, nil
	}
	res, err := s.query(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("history of %d jobs: %w", len(ids), err)
	}
	hist := map[string]batch.JobStatus{}
	for id, js := range res.jobs {
		if js.State.Terminal() {
			hist[id] = js
		}
	}
	for id := range res.gone {
		if _, listed := res.jobs[id]; !listed {
			hist[id] = batch.JobStatus{ID: id, State: batch.StateUnknown, Reason: Gone}
		}
	}
	return hist, nil
}

// EstimateStart returns the scheduler's estimated start (estimated.
// start_time) of the pending jobs among ids, from one qstat call. Jobs
// without an estimate are absent.
func (s *Scheduler) EstimateStart(ctx context.Context, ids []string) (map[string]time.Time, error) {
	st, err := s.Status(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("estimated start: %w", err)
	}
	starts := map[string]time.Time{}
	for id, js := range st {
		if !js.EstimatedStart.IsZero() {
			starts[id] = js.EstimatedStart
		}
	}
	return starts, nil
}

// all lists every job PBS shows to user ("" for the hub's account): queued,
// running and exiting ones (no -x, which would add weeks of history).
func (s *Scheduler) all(ctx context.Context, user string) ([]batch.JobStatus, error) {
	out, err := s.run(ctx, user, nil, "qstat", "-f", "-F", "json")
	if err != nil {
		return nil, err
	}
	var bad []string
	seen := map[string]int{}
	var jobs []batch.JobStatus
	for _, p := range splitJobs(out) {
		js, err := p.status(s.opts.Location)
		if err != nil {
			bad = append(bad, err.Error())
			js = unreadable(p.id, "malformed")
		}
		js.ID = p.id
		if i, dup := seen[p.id]; dup {
			bad = append(bad, fmt.Sprintf("job %s is listed more than once", batch.Clip(p.id)))
			jobs[i] = unreadable(p.id, "listed more than once")
			continue
		}
		seen[p.id] = len(jobs)
		jobs = append(jobs, js)
	}
	s.dropped(bad, len(jobs))
	// JSON objects have no order: sort by sequence number, as qstat lists.
	sort.Slice(jobs, func(i, j int) bool { return lessID(jobs[i].ID, jobs[j].ID) })
	return jobs, nil
}

func lessID(a, b string) bool {
	sa, _, _ := strings.Cut(a, ".")
	sb, _, _ := strings.Cut(b, ".")
	if len(sa) != len(sb) {
		return len(sa) < len(sb)
	}
	return a < b
}

// ListByName returns user's queued and running jobs whose name starts with
// prefix, so the hub can adopt a job whose id it never recorded. It runs as
// user. (qstat -u cannot be used: with -f -F json it mixes text into the
// JSON, openpbs/openpbs PR #2675.)
func (s *Scheduler) ListByName(ctx context.Context, user, prefix string) ([]batch.JobStatus, error) {
	if !batch.ValidUser(user) {
		return nil, fmt.Errorf("list jobs: %q is not a valid user name", user)
	}
	all, err := s.all(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("list jobs of %s: %w", user, err)
	}
	var jobs []batch.JobStatus
	for _, js := range all {
		if js.User == user && strings.HasPrefix(js.Name, prefix) {
			jobs = append(jobs, js)
		}
	}
	return jobs, nil
}

// Queue returns every queued, running and exiting job of every user in one
// qstat call, for the sysadmin's queue view.
func (s *Scheduler) Queue(ctx context.Context) ([]batch.JobStatus, error) {
	jobs, err := s.all(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("read the queue: %w", err)
	}
	return jobs, nil
}
