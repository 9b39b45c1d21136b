package slurm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"hpcgate/batch"
)

// Why squeue and not sacct: sacct needs slurmdbd, which many small sites and
// the loopback cluster do not run ("Slurm accounting storage is disabled").
// squeue -t all also lists jobs that ended less than MinJobAge (default
// 300 s) ago, with their final state and exit code; after that slurmctld
// purges the record and answers "Invalid job id specified".
//
// How Slurm 22.05 answers for ids it does not know (testdata/slurm):
//   - one id (-j 5): "slurm_load_jobs error: Invalid job id specified", exit 1
//     (squeue asks for that one job);
//   - several ids (-j 5,6): the known ones, silently without the others,
//     exit 0 (squeue loads all jobs and filters), even if none is known.
//
// So Status treats the single-id error as "absent", and a multi-id query
// never loses the known jobs because of a purged one. Should a Slurm version
// answer a multi-id query with that error, Status falls back to one query of
// every job and filters it (a second command, only in that case).

// jobsQuery is squeue's argv for ids ("" for every job), with -t all so jobs
// that ended recently are listed with their final state, and --all so jobs
// in hidden partitions are not mistaken for gone.
func jobsQuery(ids, nonce string) []string {
	argv := []string{"squeue", "--all", "--noheader", "--states=all"}
	if ids != "" {
		argv = append(argv, "--jobs="+ids)
	}
	return append(argv, "--Format="+statusFormat(nonce))
}

// squeue runs one status query (argv from build, given a fresh nonce) and
// parses it, dropping and logging malformed records.
func (s *Scheduler) squeue(ctx context.Context, user string, build func(nonce string) []string) ([]batch.JobStatus, error) {
	nonce := s.nonce()
	argv := build(nonce)
	out, err := s.run(ctx, user, nil, argv...)
	if err != nil {
		return nil, err
	}
	jobs, bad := parseStatus(out, nonce, s.opts.Location)
	s.dropped("squeue", len(jobs), bad)
	return jobs, nil
}

// dropped logs the malformed records of one query: one line, the count and
// the first few reasons (already clipped), however many there were.
func (s *Scheduler) dropped(cmd string, kept int, bad []Malformed) {
	if len(bad) == 0 {
		return
	}
	const show = 3
	reasons := make([]string, 0, show)
	for _, m := range bad[:min(show, len(bad))] {
		reasons = append(reasons, fmt.Sprintf("record %d: %v", m.Index, m.Err))
	}
	s.opts.Logger.Warn(cmd+": dropped malformed records; the others are kept",
		"scheduler", "slurm", "dropped", len(bad), "kept", kept, "reasons", strings.Join(reasons, "; "))
}

// Status reports on ids in one squeue call. Ids Slurm no longer knows are
// absent; a failed query is an error.
func (s *Scheduler) Status(ctx context.Context, ids []string) (map[string]batch.JobStatus, error) {
	ids, err := batch.JobIDs(ids, validID, "Slurm")
	if err != nil {
		return nil, fmt.Errorf("job status: %w", err)
	}
	if len(ids) == 0 {
		return map[string]batch.JobStatus{}, nil
	}
	jobs, _, err := s.queryJobs(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("status of %d jobs: %w", len(ids), err)
	}
	return jobs, nil
}

// queryJobs runs the status query for ids (one command; see above for the
// fallback) and returns the jobs Slurm reported among ids. unknown is true
// when ids was one id and Slurm said it does not know it.
func (s *Scheduler) queryJobs(ctx context.Context, ids []string) (jobs map[string]batch.JobStatus, unknown bool, err error) {
	list, err := s.squeue(ctx, "", func(nonce string) []string { return jobsQuery(strings.Join(ids, ","), nonce) })
	if invalidJobID(err) {
		if len(ids) == 1 {
			return map[string]batch.JobStatus{}, true, nil
		}
		list, err = s.squeue(ctx, "", func(nonce string) []string { return jobsQuery("", nonce) })
	}
	if err != nil {
		return nil, false, err
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	jobs = make(map[string]batch.JobStatus, len(ids))
	for _, js := range list {
		if want[js.ID] {
			jobs[js.ID] = js
		}
	}
	return jobs, false, nil
}

// Purged is the Reason of a History entry for a job Slurm has forgotten.
const Purged = "ended: Slurm has purged the job's record, so how it ended is unknown (no accounting)"

// History is the second signal that a job missing from Status has ended,
// without sacct. Every id in the result has ended:
//
//   - a job Slurm still lists (ended less than MinJobAge ago) has its final
//     state, exit code and end time;
//   - a job Slurm has forgotten has State StateUnknown and Reason Purged:
//     it has certainly ended (slurmctld purges only ended jobs), but how is
//     not recorded anywhere without accounting.
//
// Ids still pending or running are not in the result, nor are ids whose end
// Slurm did not confirm. A job counts as forgotten only on Slurm's explicit
// "Invalid job id specified" for a query of that one id: absence from a
// multi-id listing could also mean the hub may not see the job (PrivateData
// =jobs answers "Access/permission denied" for one id instead). So History
// costs one command, plus one per id absent from it; the hub asks only about
// jobs that vanished from Status, which is rare (Status sees every job's
// final state for MinJobAge after it ends).
func (s *Scheduler) History(ctx context.Context, ids []string) (map[string]batch.JobStatus, error) {
	ids, err := batch.JobIDs(ids, validID, "Slurm")
	if err != nil {
		return nil, fmt.Errorf("job history: %w", err)
	}
	if len(ids) == 0 {
		return map[string]batch.JobStatus{}, nil
	}
	jobs, unknown, err := s.queryJobs(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("history of %d jobs: %w", len(ids), err)
	}
	hist := make(map[string]batch.JobStatus, len(ids))
	for _, id := range ids {
		if js, ok := jobs[id]; ok {
			if js.State.Terminal() {
				hist[id] = js
			}
			continue
		}
		gone, err := s.forgotten(ctx, id, len(ids) == 1, unknown)
		if err != nil {
			return nil, fmt.Errorf("history of job %s: %w", id, err)
		}
		if gone {
			hist[id] = batch.JobStatus{ID: id, State: batch.StateUnknown, Reason: Purged}
		}
	}
	return hist, nil
}

// forgotten asks Slurm about id alone: only "Invalid job id specified"
// confirms it no longer knows the job. asked says the query just made was
// already about id alone, and unknown what Slurm answered to it.
func (s *Scheduler) forgotten(ctx context.Context, id string, asked, unknown bool) (bool, error) {
	if asked {
		return unknown, nil
	}
	_, err := s.run(ctx, "", nil, jobsQuery(id, s.nonce())...)
	var ce *batch.CommandError
	switch {
	case invalidJobID(err):
		return true, nil
	case errors.As(err, &ce) && strings.Contains(ce.Stderr, "Access/permission denied"):
		// PrivateData=jobs hides the job from the hub's account: it may
		// well be running.
		return false, nil
	case err != nil:
		return false, err
	}
	// Listed after all (submitted, or visible, in between): not confirmed.
	return false, nil
}

// EstimateStart returns the backfill scheduler's estimated start of the
// pending jobs among ids (squeue --start, one command). Jobs without an
// estimate (held, waiting for a dependency, or no backfill scheduler) are
// absent.
func (s *Scheduler) EstimateStart(ctx context.Context, ids []string) (map[string]time.Time, error) {
	ids, err := batch.JobIDs(ids, validID, "Slurm")
	if err != nil {
		return nil, fmt.Errorf("estimated start: %w", err)
	}
	if len(ids) == 0 {
		return map[string]time.Time{}, nil
	}
	query := func(ids string) []string {
		argv := []string{"squeue", "--all", "--start", "--noheader"}
		if ids != "" {
			argv = append(argv, "--jobs="+ids)
		}
		return append(argv, "--format="+startFormat)
	}
	out, err := s.run(ctx, "", nil, query(strings.Join(ids, ","))...)
	if invalidJobID(err) {
		if len(ids) == 1 {
			return map[string]time.Time{}, nil
		}
		out, err = s.run(ctx, "", nil, query("")...)
	}
	if err != nil {
		return nil, fmt.Errorf("estimated start of %d jobs: %w", len(ids), err)
	}
	all, bad := parseStart(out, s.opts.Location)
	s.dropped("squeue --start", len(all), bad)
	starts := make(map[string]time.Time, len(ids))
	for _, id := range ids {
		if t, ok := all[id]; ok {
			starts[id] = t
		}
	}
	return starts, nil
}

// ListByName returns user's jobs (recently ended ones included) whose name
// starts with prefix, so the hub can adopt a job whose id it never recorded.
// It runs as user, so it works where PrivateData hides others' jobs.
func (s *Scheduler) ListByName(ctx context.Context, user, prefix string) ([]batch.JobStatus, error) {
	if !batch.ValidUser(user) {
		return nil, fmt.Errorf("list jobs: %q is not a valid user name", user)
	}
	list, err := s.squeue(ctx, user, func(nonce string) []string {
		return []string{"squeue", "--all", "--noheader", "--states=all", "--user=" + user, "--Format=" + statusFormat(nonce)}
	})
	if err != nil {
		return nil, fmt.Errorf("list jobs of %s: %w", user, err)
	}
	var jobs []batch.JobStatus
	for _, js := range list {
		if strings.HasPrefix(js.Name, prefix) && js.User == user {
			jobs = append(jobs, js)
		}
	}
	return jobs, nil
}

// Queue returns every job of every user that is pending, running or
// completing, in one squeue call, for the sysadmin's queue view.
func (s *Scheduler) Queue(ctx context.Context) ([]batch.JobStatus, error) {
	jobs, err := s.squeue(ctx, "", func(nonce string) []string {
		return []string{"squeue", "--all", "--noheader", "--Format=" + statusFormat(nonce)}
	})
	if err != nil {
		return nil, fmt.Errorf("read the queue: %w", err)
	}
	return jobs, nil
}
