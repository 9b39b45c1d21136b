package sge

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"hpcgate/batch"
)

// How Grid Engine 8.1.9 answers (batch/sge/testdata):
//   - qstat's list mode takes no job ids, only users: Status lists every
//     user's jobs (-u '*') and keeps the tracked ones. -r adds each job's
//     hard requests (its queue, h_rt) to the listing.
//   - qstat -j A,B describes the jobs it knows and silently leaves out the
//     others (exit 0); only when it knows none of them does it say so, with
//     -xml as <unknown_jobs> naming each (exit 0), without as "Following
//     jobs do not exist" (exit 1). So only a query about ids it all refuses
//     confirms that a job has gone.
//   - qacct -j ID has the end of every job that started, once it has ended
//     and the qmaster has flushed its accounting (accounting_flush_time,
//     default flush_time, 15 s; 0 writes at once); "error: job id ID not
//     found", exit 1, for the others.

// listQuery is qstat's argv for every job of user ("*" for everyone).
func listQuery(user string) []string {
	return []string{"qstat", "-xml", "-r", "-u", user}
}

// list runs qstat's listing of user's jobs ("*" for everyone) as runAs
// ("" for the hub's account) and parses it.
func (s *Scheduler) list(ctx context.Context, runAs, user string) ([]batch.JobStatus, error) {
	out, err := s.run(ctx, runAs, nil, listQuery(user)...)
	if err != nil {
		return nil, err
	}
	jobs, dropped, err := parseList(out, s.opts.Location)
	if err != nil {
		return nil, err
	}
	if dropped > 0 {
		s.opts.Logger.Warn("qstat: dropped job records without a job number; the others are kept",
			"scheduler", "sge", "dropped", dropped, "kept", len(jobs))
	}
	return jobs, nil
}

func detailQuery(ids []string) []string {
	return []string{"qstat", "-xml", "-j", strings.Join(ids, ",")}
}

// Status reports on ids from one qstat call. Ids Grid Engine no longer
// lists are absent; a failed query is an error. While some of the jobs are
// in an error state (Eqw), a second call, qstat -j for just those, adds
// Grid Engine's reason for the error.
func (s *Scheduler) Status(ctx context.Context, ids []string) (map[string]batch.JobStatus, error) {
	ids, err := batch.JobIDs(ids, validID, "Grid Engine")
	if err != nil {
		return nil, fmt.Errorf("job status: %w", err)
	}
	if len(ids) == 0 {
		return map[string]batch.JobStatus{}, nil
	}
	all, err := s.list(ctx, "", "*")
	if err != nil {
		return nil, fmt.Errorf("status of %d jobs: %w", len(ids), err)
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	jobs := make(map[string]batch.JobStatus, len(ids))
	var inError []string
	for _, js := range all {
		if _, seen := jobs[js.ID]; !want[js.ID] || seen {
			continue // an array job lists a record per task: the first counts
		}
		jobs[js.ID] = js
		if js.Reason == ReasonError {
			inError = append(inError, js.ID)
		}
	}
	if len(inError) > 0 {
		out, err := s.run(ctx, "", nil, detailQuery(inError)...)
		if err != nil {
			return nil, fmt.Errorf("error reasons of %d jobs: %w", len(inError), err)
		}
		reasons, _, err := parseDetail(out)
		if err != nil {
			return nil, fmt.Errorf("error reasons of %d jobs: %w", len(inError), err)
		}
		for id, r := range reasons {
			if js, ok := jobs[id]; ok && r != "" {
				js.Reason = ReasonError + ": " + r
				jobs[id] = js
			}
		}
	}
	return jobs, nil
}

// Gone is the Reason of a History entry for a job Grid Engine no longer
// knows and has no accounting record of.
const Gone = "ended: Grid Engine no longer knows the job and has no accounting record of it (deleted before it started, or accounting is off), so how it ended is unknown"

// History is the second signal that a job missing from Status has ended.
// Every id in the result has ended: a job qacct has a record of has its
// final state, exit status and end from it (Grid Engine writes the record
// when the job ends); a job without one that qstat -j refuses to know has
// State StateUnknown and Reason Gone (it was deleted before it started, or
// its record is not flushed yet). qacct comes first because qstat -j still
// describes a job for a moment after the listing has dropped it. Ids
// without a record that qstat still knows are not in the result, nor are
// ids it left out of an answer about several (see above): each of those is
// asked about alone. So History costs one qacct per id and one qstat for
// those without a record, plus one per id qstat left out; the hub asks only
// about jobs that vanished from Status. (A job rescheduled after a node
// failure has a record of its first run while it waits again; Status lists
// it, so the hub does not ask.)
func (s *Scheduler) History(ctx context.Context, ids []string) (map[string]batch.JobStatus, error) {
	ids, err := batch.JobIDs(ids, validID, "Grid Engine")
	if err != nil {
		return nil, fmt.Errorf("job history: %w", err)
	}
	if len(ids) == 0 {
		return map[string]batch.JobStatus{}, nil
	}
	hist := make(map[string]batch.JobStatus, len(ids))
	var noRecord []string
	for _, id := range ids {
		js, ok, err := s.accounting(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("history of job %s: %w", id, err)
		}
		if ok {
			hist[id] = js
		} else {
			noRecord = append(noRecord, id)
		}
	}
	if len(noRecord) == 0 {
		return hist, nil
	}
	gone, err := s.gone(ctx, noRecord)
	if err != nil {
		return nil, fmt.Errorf("history of %d jobs: %w", len(noRecord), err)
	}
	for _, id := range gone {
		hist[id] = batch.JobStatus{ID: id, State: batch.StateUnknown, Reason: Gone}
	}
	return hist, nil
}

// gone returns the ids among ids that qstat -j refuses to know.
func (s *Scheduler) gone(ctx context.Context, ids []string) ([]string, error) {
	out, err := s.run(ctx, "", nil, detailQuery(ids)...)
	if err != nil {
		return nil, err
	}
	known, unknown, err := parseDetail(out)
	if err != nil {
		return nil, err
	}
	if len(unknown) > 0 || len(ids) == 1 {
		return matching(ids, unknown), nil
	}
	var gone []string
	for _, id := range ids {
		if _, ok := known[id]; ok {
			continue
		}
		out, err := s.run(ctx, "", nil, detailQuery([]string{id})...)
		if err != nil {
			return nil, err
		}
		_, unknown, err := parseDetail(out)
		if err != nil {
			return nil, err
		}
		gone = append(gone, matching([]string{id}, unknown)...)
	}
	return gone, nil
}

// matching is the ids among asked that qstat named, so a name qstat made
// up cannot enter the result.
func matching(asked, named []string) []string {
	set := make(map[string]bool, len(named))
	for _, id := range named {
		set[id] = true
	}
	var out []string
	for _, id := range asked {
		if set[id] {
			out = append(out, id)
		}
	}
	return out
}

var reAcctNotFound = regexp.MustCompile(`^error: job id ([0-9]+) not found$`)

// accounting reads how the job id ended from qacct; ok is false when
// qacct has no record of it.
func (s *Scheduler) accounting(ctx context.Context, id string) (js batch.JobStatus, ok bool, err error) {
	out, err := s.run(ctx, "", nil, "qacct", "-j", id)
	var ce *batch.CommandError
	if errors.As(err, &ce) && ce.ExitCode == 1 {
		if m := reAcctNotFound.FindStringSubmatch(strings.TrimSpace(ce.Stderr)); m != nil && m[1] == id {
			return batch.JobStatus{}, false, nil
		}
	}
	if err != nil {
		return batch.JobStatus{}, false, err
	}
	recs := parseAcct(out)
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i]["jobnumber"] == id {
			return recs[i].status(id, s.opts.Location), true, nil
		}
	}
	return batch.JobStatus{}, false, fmt.Errorf("qacct -j %s printed no record of job %s", id, id)
}

// ListByName returns user's queued and running jobs whose name starts with
// prefix, so the hub can adopt a job whose id it never recorded. It runs as
// user.
func (s *Scheduler) ListByName(ctx context.Context, user, prefix string) ([]batch.JobStatus, error) {
	if !batch.ValidUser(user) {
		return nil, fmt.Errorf("list jobs: %q is not a valid user name", user)
	}
	all, err := s.list(ctx, user, user)
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

// Queue returns every queued, running and ending job of every user in one
// qstat call, for the sysadmin's queue view: running jobs first, then
// pending ones in the scheduler's order, as qstat lists them.
func (s *Scheduler) Queue(ctx context.Context) ([]batch.JobStatus, error) {
	jobs, err := s.list(ctx, "", "*")
	if err != nil {
		return nil, fmt.Errorf("read the queue: %w", err)
	}
	return jobs, nil
}
