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

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	p := policy{QueueTimeout: 24 * time.Hour, StartTimeout: 5 * time.Minute}
	tests := []struct {
		name       string
		j          job
		st         batch.JobStatus
		p          policy
		to         ServerState
		cancel     bool
		endedBy    string
		reasonPart string
	}{
		{"pending keeps queued with reason", job{State: StateQueued, Submitted: now.Add(-time.Hour)},
			batch.JobStatus{State: batch.StatePending, Reason: "Resources"}, p, StateQueued, false, "", "Resources"},
		{"pending after submit", job{State: StateSubmitting, Submitted: now},
			batch.JobStatus{State: batch.StatePending, Reason: "Priority"}, p, StateQueued, false, "", "Priority"},
		{"long queue wait without timeout is honest", job{State: StateQueued, Submitted: now.Add(-100 * time.Hour)},
			batch.JobStatus{State: batch.StatePending, Reason: "Resources"}, policy{}, StateQueued, false, "", ""},
		{"queue timeout cancels", job{State: StateQueued, Submitted: now.Add(-25 * time.Hour)},
			batch.JobStatus{State: batch.StatePending, Reason: "Resources"}, p, StateFailed, true, "queue-timeout", "queue timeout of 1d 0h"},
		{"pending while stopping waits", job{State: StateStopping, Submitted: now.Add(-25 * time.Hour)},
			batch.JobStatus{State: batch.StatePending}, p, "", false, "", ""},
		{"running starts", job{State: StateQueued},
			batch.JobStatus{State: batch.StateRunning, Node: "cn1"}, p, StateStarting, false, "", ""},
		{"running within start timeout", job{State: StateStarting, Started: now.Add(-time.Minute)},
			batch.JobStatus{State: batch.StateRunning}, p, "", false, "", ""},
		{"start timeout cancels", job{State: StateStarting, Started: now.Add(-6 * time.Minute)},
			batch.JobStatus{State: batch.StateRunning, Node: "cn1"}, p, StateFailed, true, "start-timeout", "did not answer within 5m"},
		{"ready stays ready", job{State: StateReady, Started: now.Add(-time.Hour)},
			batch.JobStatus{State: batch.StateRunning}, p, "", false, "", ""},
		{"completing waits", job{State: StateReady},
			batch.JobStatus{State: batch.StateCompleting}, p, "", false, "", ""},
		{"walltime is not a failure", job{State: StateReady, Walltime: time.Hour},
			batch.JobStatus{State: batch.StateTimeout}, p, StateStopped, false, "walltime", "walltime (1h 00m)"},
		{"stopping ends stopped", job{State: StateStopping},
			batch.JobStatus{State: batch.StateCancelled}, p, StateStopped, false, "user", "Stopped"},
		{"failed keeps exit code", job{State: StateStarting},
			batch.JobStatus{State: batch.StateFailed, ExitCode: 3}, p, StateFailed, false, "exit", "exit code 3"},
		{"completed before ready is a failure", job{State: StateStarting},
			batch.JobStatus{State: batch.StateCompleted}, p, StateFailed, false, "exit", "before the app answered"},
		{"cancelled outside", job{State: StateReady},
			batch.JobStatus{State: batch.StateCancelled}, p, StateStopped, false, "scheduler", "outside hpcgate"},
		{"confirmed unknown", job{State: StateQueued},
			batch.JobStatus{State: batch.StateUnknown}, p, StateFailed, false, "scheduler", "no longer known"},
		{"confirmed unknown after ready", job{State: StateReady},
			batch.JobStatus{State: batch.StateUnknown}, p, StateStopped, false, "scheduler", "keeps no record"},
		// Listed in a state word the adapter does not map: nothing changes,
		// whatever the server's state and however long it has waited.
		{"unrecognised keeps ready", job{State: StateReady, Started: now.Add(-time.Hour)},
			batch.JobStatus{State: batch.StateUnrecognised, RawState: "STOPPED"}, p, "", false, "", ""},
		{"unrecognised keeps queued past the queue timeout", job{State: StateQueued, Submitted: now.Add(-100 * time.Hour)},
			batch.JobStatus{State: batch.StateUnrecognised, RawState: "NEW_STATE"}, p, "", false, "", ""},
		{"unrecognised keeps starting past the start timeout", job{State: StateStarting, Started: now.Add(-time.Hour)},
			batch.JobStatus{State: batch.StateUnrecognised, RawState: "SUSPENDED"}, p, "", false, "", ""},
		{"unrecognised keeps submitting", job{State: StateSubmitting, Submitted: now},
			batch.JobStatus{State: batch.StateUnrecognised, RawState: "X"}, p, "", false, "", ""},
		{"unrecognised keeps stopping", job{State: StateStopping},
			batch.JobStatus{State: batch.StateUnrecognised, RawState: "X"}, p, "", false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := decide(tt.j, tt.st, now, tt.p)
			if v.To != tt.to || v.Cancel != tt.cancel || v.EndedBy != tt.endedBy {
				t.Fatalf("decide = %+v, want to=%q cancel=%v endedBy=%q", v, tt.to, tt.cancel, tt.endedBy)
			}
			if !strings.Contains(v.Reason, tt.reasonPart) {
				t.Errorf("reason %q does not contain %q", v.Reason, tt.reasonPart)
			}
		})
	}
}

func TestBelongs(t *testing.T) {
	tr := tracked{JobID: "42", User: "alice", JobName: "hpcgate-alice-x-0a1b"}
	tests := []struct {
		name string
		st   batch.JobStatus
		ok   bool
	}{
		{"its own record", batch.JobStatus{ID: "42", User: "alice", Name: "hpcgate-alice-x-0a1b", State: batch.StateRunning}, true},
		{"another job id", batch.JobStatus{ID: "43", User: "alice", Name: "hpcgate-alice-x-0a1b", State: batch.StateCancelled}, false},
		{"another owner", batch.JobStatus{ID: "42", User: "bob", Name: "hpcgate-alice-x-0a1b", State: batch.StateCancelled}, false},
		{"another name", batch.JobStatus{ID: "42", User: "alice", Name: "hpcgate-alice-x-0a1b\x1e", State: batch.StateCancelled}, false},
		{"no owner on a listed record", batch.JobStatus{ID: "42", Name: "hpcgate-alice-x-0a1b", State: batch.StateCompleted}, false},
		{"an unreadable record", batch.JobStatus{ID: "42", State: batch.StateUnrecognised}, false},
		{"confirmed gone", batch.JobStatus{ID: "42", State: batch.StateUnknown, Reason: "purged"}, true},
		{"gone, but claiming another owner", batch.JobStatus{ID: "42", User: "bob", State: batch.StateUnknown}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, why := belongs(tr, tt.st)
			if ok != tt.ok || (!ok && why == "") {
				t.Errorf("belongs(%+v) = %v, %q; want %v", tt.st, ok, why, tt.ok)
			}
		})
	}
	// A server recorded before job names were unique is matched by id and owner.
	if ok, _ := belongs(tracked{JobID: "42", User: "alice"}, batch.JobStatus{ID: "42", User: "alice", Name: "anything"}); !ok {
		t.Error("a server without a job name does not match its own job")
	}
	// The reason is bounded, whatever the scheduler printed.
	_, why := belongs(tr, batch.JobStatus{ID: "42", User: "alice", Name: strings.Repeat("x", 5000)})
	if len(why) > 200 {
		t.Errorf("mismatch reason is %d bytes", len(why))
	}
}
