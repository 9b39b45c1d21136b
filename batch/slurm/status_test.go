package slurm

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"hpcgate/batch"
)

// The fixtures were recorded with TZ=UTC (record.sh), with one squeue nonce
// for the whole run.
func newTestScheduler(exec batch.Executor) *Scheduler {
	s := New(exec, Options{Location: time.UTC})
	s.nonce = func() string { return fixtureNonce }
	return s
}

// want is what each recorded job was made to do (record.sh), by job name.
type want struct {
	state    batch.State
	reason   string
	exit     int
	node     bool // runs or ran on a node
	estimate bool // pending with a backfill estimate
	// anyEstimate: whether there is an estimate depends on timing (the
	// deadline job's begin time passes while it is recorded).
	anyEstimate bool
}

var wantByName = map[string]want{
	"hpcgate-rec-cancelled-running":    {state: batch.StateCancelled, exit: 143, node: true},
	"hpcgate-rec-cancelled-pending":    {state: batch.StateCancelled},
	"hpcgate-rec-completed":            {state: batch.StateCompleted, node: true},
	"hpcgate-rec-completing":           {state: batch.StateCompleting, node: true},
	"hpcgate-rec-failed":               {state: batch.StateFailed, reason: "NonZeroExitCode", exit: 3, node: true},
	"hpcgate-rec-killed":               {state: batch.StateFailed, reason: "JobLaunchFailure", exit: 137, node: true},
	"hpcgate-rec-deadline":             {state: batch.StatePending, reason: "BeginTime", anyEstimate: true},
	"hpcgate-rec-begin":                {state: batch.StatePending, reason: "BeginTime", estimate: true},
	"hpcgate-rec-partition-time-limit": {state: batch.StatePending, reason: "PartitionTimeLimit"},
	"hpcgate-rec-resources":            {state: batch.StatePending, reason: "Resources", estimate: true},
	"hpcgate-rec-priority":             {state: batch.StatePending, reason: "Priority", estimate: true},
	"hpcgate-rec-held":                 {state: batch.StatePending, reason: "JobHeldUser"},
	"hpcgate-rec-bob-long":             {state: batch.StatePending, reason: "JobHeldUser"},
	"hpcgate-rec-timeout":              {state: batch.StateRunning, node: true},
	"hpcgate-rec-running":              {state: batch.StateRunning, node: true},
	"hpcgate-rec-suspended":            {state: batch.StateUnrecognised, reason: "Suspended", node: true},
	"hpcgate-rec-victim":               {state: batch.StatePending, reason: "JobHeldUser"},
}

func checkJob(t *testing.T, js batch.JobStatus, w want) {
	t.Helper()
	if js.State != w.state || js.Reason != w.reason || js.ExitCode != w.exit {
		t.Errorf("job %s %s: state %s reason %q exit %d, want %s %q %d (raw %s)",
			js.ID, js.Name, js.State, js.Reason, js.ExitCode, w.state, w.reason, w.exit, js.RawState)
	}
	if (js.Node != "") != w.node {
		t.Errorf("job %s %s: node %q, want a node: %v", js.ID, js.Name, js.Node, w.node)
	}
	if (!js.EstimatedStart.IsZero()) != w.estimate && !w.anyEstimate {
		t.Errorf("job %s %s: estimated start %v, want one: %v", js.ID, js.Name, js.EstimatedStart, w.estimate)
	}
	if js.Submitted.IsZero() || js.Cores < 1 || js.TimeLimit <= 0 || js.Partition == "" || js.User == "" {
		t.Errorf("job %s %s: missing submit time, cores, limit, partition or user: %+v", js.ID, js.Name, js)
	}
	switch {
	case w.node && js.Started.IsZero():
		t.Errorf("job %s %s ran but has no start time", js.ID, js.Name)
	case js.State.Terminal() && js.Ended.IsZero():
		t.Errorf("job %s %s ended but has no end time", js.ID, js.Name)
	case !js.State.Terminal() && js.State != batch.StateCompleting && !js.Ended.IsZero():
		t.Errorf("job %s %s has not ended but has end time %v", js.ID, js.Name, js.Ended)
	}
}

func TestStatusRecordedStates(t *testing.T) {
	for _, name := range []string{"squeue-status-mixed", "squeue-status-pending", "squeue-status-running"} {
		t.Run(name, func(t *testing.T) {
			r := newReplay(t, "", name)
			ids := jobIDs(t, r.Fixtures[0])
			st, err := newTestScheduler(r).Status(context.Background(), ids)
			if err != nil {
				t.Fatal(err)
			}
			r.Done()
			// Every job was younger than MinJobAge: all are listed.
			if len(st) != len(ids) {
				t.Errorf("Status(%d ids) listed %d jobs", len(ids), len(st))
			}
			for _, id := range ids {
				js, ok := st[id]
				if !ok {
					t.Errorf("job %s missing", id)
					continue
				}
				w, known := wantByName[js.Name]
				if !known {
					t.Errorf("job %s has unexpected name %q", id, js.Name)
					continue
				}
				checkJob(t, js, w)
			}
		})
	}
}

func TestStatusTimeoutAndDeadline(t *testing.T) {
	r := newReplay(t, "", "squeue-status-timeout")
	st, err := newTestScheduler(r).Status(context.Background(), jobIDs(t, r.Fixtures[0]))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]batch.JobStatus{}
	for _, js := range st {
		byName[js.Name] = js
	}
	checkJob(t, byName["hpcgate-rec-timeout"], want{state: batch.StateTimeout, reason: "TimeLimit", exit: 143, node: true})
	// The deadline passed before the job could start.
	dl := byName["hpcgate-rec-deadline"]
	if dl.State != batch.StateTimeout || dl.Reason != "Deadline" || dl.RawState != "DEADLINE" || dl.Node != "" {
		t.Errorf("deadline job: %+v", dl)
	}
	if to := byName["hpcgate-rec-timeout"]; to.TimeLimit != time.Minute || to.Ended.Sub(to.Started) < time.Minute {
		t.Errorf("timeout job: limit %s, ran %s; want 1m and at least that", to.TimeLimit, to.Ended.Sub(to.Started))
	}
}

func TestStatusUnknownIDs(t *testing.T) {
	tests := []struct {
		fixture string
		absent  string
	}{
		// One id: squeue fails with "Invalid job id specified".
		{"squeue-status-unknown", "999999"},
		// Several: the known ones are listed, the others silently absent.
		{"squeue-status-unknown-many", "999999"},
		{"squeue-status-live-and-unknown", "999999"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			r := newReplay(t, "", tt.fixture)
			ids := jobIDs(t, r.Fixtures[0])
			st, err := newTestScheduler(r).Status(context.Background(), ids)
			if err != nil {
				t.Fatalf("Status: %v", err)
			}
			r.Done()
			if _, ok := st[tt.absent]; ok {
				t.Errorf("unknown id %s is listed", tt.absent)
			}
			for _, id := range ids {
				if _, ok := st[id]; !ok && !strings.HasPrefix(id, "99999") {
					t.Errorf("known job %s is missing", id)
				}
			}
		})
	}
}

// Should a Slurm answer a multi-id query with "Invalid job id specified"
// (22.05 does not), Status lists every job instead and loses none.
func TestStatusFallsBackToAllJobs(t *testing.T) {
	r := newReplay(t, "", "squeue-status-unknown", "squeue-all-states")
	all := parseClean(t, r.Fixtures[1].Stdout)
	ids := []string{all[0].ID, "999999", all[len(all)-1].ID}
	r.Fixtures[0].Argv = jobsQuery(strings.Join(ids, ","), recordedNonce(t))
	st, err := newTestScheduler(r).Status(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	r.Done()
	if len(st) != 2 || st[ids[0]].ID != ids[0] || st[ids[2]].ID != ids[2] {
		t.Errorf("Status(%v) after fallback = %v, want the two known jobs", ids, st)
	}
}

func TestStatusControllerDown(t *testing.T) {
	r := newReplay(t, "", "squeue-controller-down")
	st, err := newTestScheduler(r).Status(context.Background(), jobIDs(t, r.Fixtures[0]))
	var ce *batch.CommandError
	if !errors.As(err, &ce) || st != nil {
		t.Fatalf("Status with the controller down = %v, %v; want an error, no data", st, err)
	}
	if !strings.Contains(err.Error(), "Unable to contact slurm controller") {
		t.Errorf("error %q lacks Slurm's words", err)
	}
}

func TestStatusRejectsBadIDs(t *testing.T) {
	for _, id := range []string{"", "-u", "12;rm", "12 13", "1_x", "abc"} {
		r := newReplay(t, "")
		if _, err := newTestScheduler(r).Status(context.Background(), []string{"5", id}); err == nil {
			t.Errorf("Status accepted id %q", id)
		}
		r.Done()
	}
	r := newReplay(t, "")
	if st, err := newTestScheduler(r).Status(context.Background(), nil); err != nil || len(st) != 0 {
		t.Errorf("Status(nil) = %v, %v", st, err)
	}
	r.Done()
}

// squeue --json is Slurm's own structured view; the -O parser must agree
// with it on every job both list (recorded within a second of each other).
func TestStatusAgreesWithJSON(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "squeue-json.out"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Jobs []struct {
			JobID     int    `json:"job_id"`
			Name      string `json:"name"`
			User      string `json:"user_name"`
			Partition string `json:"partition"`
			State     string `json:"job_state"`
			BatchHost string `json:"batch_host"`
			ExitCode  int    `json:"exit_code"`
			Submit    int64  `json:"submit_time"`
			Start     int64  `json:"start_time"`
			TimeLimit int    `json:"time_limit"`
			CPUs      int    `json:"cpus"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Jobs) == 0 {
		t.Fatal("no jobs in squeue-json.out")
	}
	mixed := parseClean(t, loadFixture(t, "squeue-status-mixed").Stdout)
	byID := map[string]batch.JobStatus{}
	for _, js := range mixed {
		byID[js.ID] = js
	}
	for _, j := range doc.Jobs {
		id := strconv.Itoa(j.JobID)
		js, ok := byID[id]
		if !ok {
			t.Errorf("job %s of the JSON is not in squeue-status-mixed", id)
			continue
		}
		code, _ := parseExitCode(strconv.Itoa(j.ExitCode))
		if js.Name != j.Name || js.User != j.User || js.Partition != j.Partition || js.RawState != j.State ||
			js.Node != j.BatchHost || js.ExitCode != code || js.Cores != j.CPUs ||
			js.TimeLimit != time.Duration(j.TimeLimit)*time.Minute || js.Submitted.Unix() != j.Submit {
			t.Errorf("job %s: -O gives %+v, JSON %+v", id, js, j)
		}
		if js.State == batch.StateRunning && js.Started.Unix() != j.Start {
			t.Errorf("job %s: start %v, JSON %d", id, js.Started, j.Start)
		}
	}
}
