package gateway

import (
	"strings"
	"testing"
	"time"

	"hpcgate/batch"
)

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
			batch.JobStatus{State: batch.StatePending, Reason: "Resources"}, p, StateFailed, true, "queue-timeout", "queue timeout of 24h"},
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
			batch.JobStatus{State: batch.StateTimeout}, p, StateStopped, false, "walltime", "walltime (1h)"},
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

func TestRoundDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		24 * time.Hour:                    "24h",
		90 * time.Minute:                  "1h30m",
		5 * time.Minute:                   "5m",
		45*time.Second + time.Millisecond: "45s",
		0:                                 "0s",
	} {
		if got := roundDur(d); got != want {
			t.Errorf("roundDur(%s) = %q, want %q", d, got, want)
		}
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
