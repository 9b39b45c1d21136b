package gateway

import (
	"slices"
	"strings"
	"testing"
	"time"

	"hpcgate/batch"
	"hpcgate/gateway/config"
)

// TestObserve: what one report means for one server, as the effects the
// hub then applies.
func TestObserve(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	p := policy{QueueTimeout: 24 * time.Hour, StartTimeout: 5 * time.Minute}
	server := func(state ServerState, mod ...func(*Server)) *Server {
		s := &Server{ID: 1, User: "alice", JobID: "7", JobName: "hpcgate-alice-default-1", State: state,
			SchedState: "PENDING", Submitted: now.Add(-time.Hour), Updated: now.Add(-time.Minute),
			Resources: config.Resources{Partition: "short", Walltime: time.Hour}}
		for _, m := range mod {
			m(s)
		}
		return s
	}
	report := func(state batch.State, raw string, mod ...func(*batch.JobStatus)) batch.JobStatus {
		st := batch.JobStatus{ID: "7", User: "alice", Name: "hpcgate-alice-default-1", State: state, RawState: raw}
		for _, m := range mod {
			m(&st)
		}
		return st
	}
	tests := []struct {
		name  string
		srv   *Server
		st    batch.JobStatus
		check func(t *testing.T, e effects)
	}{
		{"another owner's record is ignored", server(StateQueued),
			report(batch.StateCancelled, "CANCELLED", func(st *batch.JobStatus) { st.User = "mallory" }),
			func(t *testing.T, e effects) {
				if !strings.Contains(e.Ignore, `owner "mallory"`) || e.End != nil || e.Move != nil || e.Sched != nil {
					t.Errorf("%+v", e)
				}
			}},
		{"submitted job listed pending is queued", server(StateSubmitting),
			report(batch.StatePending, "PENDING", func(st *batch.JobStatus) { st.Reason = "Priority" }),
			func(t *testing.T, e effects) {
				if m := e.Move; m == nil || m.To != StateQueued || m.Reason != "Priority" || !slices.Equal(m.From, []ServerState{StateSubmitting}) {
					t.Errorf("move %+v", e.Move)
				}
			}},
		{"a new pending reason is shown", server(StateQueued, func(s *Server) { s.Reason = "Priority" }),
			report(batch.StatePending, "PENDING", func(st *batch.JobStatus) { st.Reason = "Resources" }),
			func(t *testing.T, e effects) {
				if m := e.Move; m == nil || m.To != StateQueued || m.Reason != "Resources" || m.Kind != "" {
					t.Errorf("move %+v", e.Move)
				}
			}},
		{"running job starts the app and its check", server(StateQueued),
			report(batch.StateRunning, "RUNNING", func(st *batch.JobStatus) { st.Node = "cn1" }),
			func(t *testing.T, e effects) {
				m := e.Move
				if m == nil || m.To != StateStarting || m.Kind != "running" || m.Queued != time.Hour || m.Data["partition"] != "short" {
					t.Fatalf("move %+v", m)
				}
				if !e.CheckReady || e.Sched == nil || e.Sched.Node != "cn1" || e.Sched.State != "RUNNING" {
					t.Errorf("check ready %v, sched %+v", e.CheckReady, e.Sched)
				}
			}},
		{"an unmapped word is shown, nothing else", server(StateReady, func(s *Server) { s.SchedState = "R" }),
			report(batch.StateUnrecognised, "STOPPED"),
			func(t *testing.T, e effects) {
				m := e.Move
				if m == nil || m.To != StateReady || !strings.Contains(m.Reason, "as STOPPED") || m.Kind != "unrecognised-state" || e.End != nil {
					t.Errorf("%+v", e)
				}
			}},
		{"a recognised word again clears that reason", server(StateReady, func(s *Server) { s.Reason = unrecognisedPrefix + "7 as STOPPED…"; s.SchedState = "RUNNING" }),
			report(batch.StateRunning, "RUNNING"),
			func(t *testing.T, e effects) {
				if m := e.Move; m == nil || m.To != StateReady || m.Reason != "" || e.Sched != nil {
					t.Errorf("%+v", e)
				}
				if !e.WarnWalltime || e.CheckReady {
					t.Errorf("warn %v, check ready %v", e.WarnWalltime, e.CheckReady)
				}
			}},
		{"queue timeout cancels and fails", server(StateQueued, func(s *Server) { s.Submitted = now.Add(-25 * time.Hour) }),
			report(batch.StatePending, "PENDING"),
			func(t *testing.T, e effects) {
				if e.End == nil || e.End.To != StateFailed || !e.Cancel || e.Outcome != "queue-timeout" || e.LogTail {
					t.Errorf("%+v", e)
				}
			}},
		{"a job failing before ready shows its log", server(StateStarting, func(s *Server) { s.Started = now.Add(-time.Minute) }),
			report(batch.StateFailed, "FAILED", func(st *batch.JobStatus) { st.ExitCode = 2 }),
			func(t *testing.T, e effects) {
				if e.End == nil || e.End.To != StateFailed || e.Cancel || !e.LogTail || e.Outcome != "job_failed" {
					t.Errorf("%+v", e)
				}
				if e.Sched == nil || e.Sched.ExitCode == nil || *e.Sched.ExitCode != 2 {
					t.Errorf("sched %+v", e.Sched)
				}
			}},
		{"a ready server's end is a stop without log", server(StateReady),
			report(batch.StateTimeout, "TIMEOUT"),
			func(t *testing.T, e effects) {
				if e.End == nil || e.End.To != StateStopped || e.End.EndedBy != "walltime" || e.LogTail || e.Outcome != "" {
					t.Errorf("%+v", e)
				}
			}},
		{"a stop whose cancel did not take is sent again", server(StateStopping, func(s *Server) { s.Updated = now.Add(-20 * time.Second) }),
			report(batch.StateRunning, "RUNNING"),
			func(t *testing.T, e effects) {
				if !e.RetryCancel || e.Move != nil || e.End != nil {
					t.Errorf("%+v", e)
				}
			}},
		{"but not at once", server(StateStopping, func(s *Server) { s.Updated = now.Add(-5 * time.Second) }),
			report(batch.StateRunning, "RUNNING"),
			func(t *testing.T, e effects) {
				if e.RetryCancel {
					t.Errorf("%+v", e)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, observe(tt.srv, tt.st, now, p)) })
	}
}

// TestTransitions: the table holds the lifecycle, and a move it lacks is
// refused before the store is asked.
func TestTransitions(t *testing.T) {
	for _, st := range States {
		if _, ok := transitions[st]; !ok {
			t.Errorf("state %s has no row in the table", st)
		}
		if !st.Valid() || st.Label() == "" || st.Progress() == 0 {
			t.Errorf("state %s: valid %v, label %q, progress %d", st, st.Valid(), st.Label(), st.Progress())
		}
	}
	// finish ends a server from any active state, and only from those.
	for _, to := range []ServerState{StateStopped, StateFailed} {
		if got := sources(to); !slices.Equal(got, ActiveStates) {
			t.Errorf("sources(%s) = %v, want %v", to, got, ActiveStates)
		}
	}
	for _, tc := range []struct {
		from []ServerState
		to   ServerState
		ok   bool
	}{
		{[]ServerState{StateSubmitting, StateQueued}, StateStarting, true},
		{[]ServerState{StateStopping}, StateStopping, true},
		{[]ServerState{StateReady}, StateQueued, false},
		{[]ServerState{StateStopped}, StateReady, false},
		{[]ServerState{StateFailed}, StateStopping, false},
	} {
		if err := allowed(tc.from, tc.to); (err == nil) != tc.ok {
			t.Errorf("allowed(%v, %s) = %v, want ok %v", tc.from, tc.to, err, tc.ok)
		}
	}
}
