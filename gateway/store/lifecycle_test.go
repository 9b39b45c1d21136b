package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"hpcgate/gateway"
)

func testStateTransitions(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t)
	sv := must(s.StartServer(ctx, gateway.NewServer{User: "alice", JobName: "hpcgate-alice-default-1"}))(t)

	submitted := e.clock.Now()
	wantErr(t, "SetJobID of an unknown server", s.SetJobID(ctx, sv.ID+100, "101"), gateway.ErrNotFound)
	if err := s.SetJobID(ctx, sv.ID, "101"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	if err := s.SetJobID(ctx, sv.ID, "101"); err != nil {
		t.Errorf("SetJobID repeated: %v", err)
	}
	wantErr(t, "SetJobID with another id", s.SetJobID(ctx, sv.ID, "102"), gateway.ErrConflict)
	got := must(s.GetServerByID(ctx, sv.ID))(t)
	if got.JobID != "101" {
		t.Errorf("JobID = %q, want 101", got.JobID)
	}
	sameTime(t, "Submitted", got.Submitted, submitted)

	steps := []struct {
		from   []gateway.ServerState
		to     gateway.ServerState
		reason string
		want   bool
		state  gateway.ServerState // after the step
		stamp  func(*gateway.Server) time.Time
	}{
		{[]gateway.ServerState{gateway.StateQueued}, gateway.StateStarting, "", false, gateway.StateSubmitting, nil},
		{[]gateway.ServerState{gateway.StateSubmitting}, gateway.StateQueued, "Priority", true, gateway.StateQueued, nil},
		{[]gateway.ServerState{gateway.StateQueued}, gateway.StateQueued, "Resources", true, gateway.StateQueued, nil},
		{[]gateway.ServerState{gateway.StateSubmitting, gateway.StateQueued}, gateway.StateStarting, "", true, gateway.StateStarting, func(s *gateway.Server) time.Time { return s.Started }},
		{[]gateway.ServerState{gateway.StateSubmitting, gateway.StateQueued}, gateway.StateStarting, "", false, gateway.StateStarting, nil},
		{[]gateway.ServerState{gateway.StateStarting}, gateway.StateReady, "", true, gateway.StateReady, func(s *gateway.Server) time.Time { return s.Ready }},
		{[]gateway.ServerState{gateway.StateQueued, gateway.StateStarting, gateway.StateReady}, gateway.StateStopping, "stopped by alice", true, gateway.StateStopping, nil},
		{[]gateway.ServerState{gateway.StateStopping}, gateway.StateStopped, "", true, gateway.StateStopped, func(s *gateway.Server) time.Time { return s.Stopped }},
		{gateway.ActiveStates, gateway.StateFailed, "too late", false, gateway.StateStopped, nil},
	}
	reason := ""
	for i, st := range steps {
		now := e.clock.Advance(time.Minute)
		ok, err := s.SetState(ctx, sv.ID, st.from, st.to, st.reason)
		if err != nil || ok != st.want {
			t.Fatalf("step %d: SetState(%v → %s) = %v, %v; want %v", i, st.from, st.to, ok, err, st.want)
		}
		if ok {
			reason = st.reason
		}
		got := must(s.GetServerByID(ctx, sv.ID))(t)
		if got.State != st.state || got.Reason != reason {
			t.Errorf("step %d: state %s reason %q, want %s %q", i, got.State, got.Reason, st.state, reason)
		}
		if st.stamp != nil {
			sameTime(t, fmt.Sprintf("step %d: time of %s", i, st.to), st.stamp(got), now)
		}
		if ok {
			sameTime(t, fmt.Sprintf("step %d: Updated", i), got.Updated, now)
		}
	}
	got = must(s.GetServerByID(ctx, sv.ID))(t)
	if !got.Started.Before(got.Ready) || !got.Ready.Before(got.Stopped) {
		t.Errorf("stamps out of order: started %v ready %v stopped %v", got.Started, got.Ready, got.Stopped)
	}

	_, err := s.SetState(ctx, sv.ID+100, gateway.ActiveStates, gateway.StateFailed, "")
	wantErr(t, "SetState of an unknown server", err, gateway.ErrNotFound)
	if _, err := s.SetState(ctx, sv.ID, []gateway.ServerState{gateway.StateStopped}, "exploded", ""); err == nil {
		t.Error("SetState to an unknown state succeeded")
	}
	if _, err := s.SetState(ctx, sv.ID, nil, gateway.StateQueued, ""); err == nil {
		t.Error("SetState with no from-states succeeded")
	}
}

func testSchedStatus(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t)
	sv := must(s.StartServer(ctx, gateway.NewServer{User: "alice", JobName: "hpcgate-alice-default-1"}))(t)
	est := e.clock.Now().Add(3 * time.Hour)
	code := 137
	steps := []struct {
		set      gateway.SchedStatus
		node     string
		code     *int
		estimate time.Time
	}{
		{gateway.SchedStatus{State: "PENDING", EstimatedStart: est}, "", nil, est},
		{gateway.SchedStatus{State: "RUNNING", Node: "cn02"}, "cn02", nil, time.Time{}},
		{gateway.SchedStatus{State: "FAILED", ExitCode: &code}, "cn02", &code, time.Time{}},
		{gateway.SchedStatus{State: "GONE"}, "cn02", &code, time.Time{}},
	}
	for i, st := range steps {
		if err := s.SetSchedStatus(ctx, sv.ID, st.set); err != nil {
			t.Fatal(err)
		}
		got := must(s.GetServerByID(ctx, sv.ID))(t)
		if got.SchedState != st.set.State || got.Node != st.node || fmt.Sprint(deref(got.ExitCode)) != fmt.Sprint(deref(st.code)) {
			t.Errorf("step %d: sched %q node %q exit %v; want %q %q %v", i, got.SchedState, got.Node, deref(got.ExitCode), st.set.State, st.node, deref(st.code))
		}
		sameTime(t, fmt.Sprintf("step %d: EstimatedStart", i), got.EstimatedStart, st.estimate)
		if got.State != gateway.StateSubmitting {
			t.Errorf("step %d: SetSchedStatus changed the state to %s", i, got.State)
		}
	}
	if err := s.SetAddress(ctx, sv.ID, "cn02.cluster", 54321); err != nil {
		t.Fatal(err)
	}
	tok, _ := must2(t)(s.NewToken(ctx, gateway.TokenSpec{User: "alice", Kind: gateway.TokenServer, ServerID: sv.ID}))
	tr := must(s.LookupToken(ctx, tok))(t)
	if err := s.SetTokenID(ctx, sv.ID, tr.ID); err != nil {
		t.Fatal(err)
	}
	got := must(s.GetServerByID(ctx, sv.ID))(t)
	if got.Host != "cn02.cluster" || got.Port != 54321 || got.TokenID != tr.ID {
		t.Errorf("address %s:%d token %d; want cn02.cluster:54321 token %d", got.Host, got.Port, got.TokenID, tr.ID)
	}
	// Deleting the token clears the server's reference to it.
	if err := s.DeleteToken(ctx, "alice", tr.ID); err != nil {
		t.Fatal(err)
	}
	if got := must(s.GetServerByID(ctx, sv.ID))(t); got.TokenID != 0 {
		t.Errorf("TokenID = %d after the token was deleted, want 0", got.TokenID)
	}
	for name, err := range map[string]error{
		"SetAddress":     s.SetAddress(ctx, sv.ID+100, "x", 1),
		"SetTokenID":     s.SetTokenID(ctx, sv.ID+100, 0),
		"SetSchedStatus": s.SetSchedStatus(ctx, sv.ID+100, gateway.SchedStatus{}),
	} {
		wantErr(t, name+" of an unknown server", err, gateway.ErrNotFound)
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func testActivity(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t)
	must(s.StartServer(ctx, gateway.NewServer{User: "alice", JobName: "hpcgate-alice-default-1"}))(t)
	t0 := e.clock.Now()
	steps := []struct {
		server       bool // SetActivity (server and user); else TouchUserActivity
		at           time.Duration
		moved        bool
		wantServer   time.Duration
		wantUserLast time.Duration
	}{
		{true, 10 * time.Minute, true, 10 * time.Minute, 10 * time.Minute},
		{true, 5 * time.Minute, false, 10 * time.Minute, 10 * time.Minute},
		{true, 10 * time.Minute, false, 10 * time.Minute, 10 * time.Minute},
		{true, 20 * time.Minute, true, 20 * time.Minute, 20 * time.Minute},
		{false, 15 * time.Minute, false, 20 * time.Minute, 20 * time.Minute},
		{false, 30 * time.Minute, true, 20 * time.Minute, 30 * time.Minute},
		{true, 25 * time.Minute, true, 25 * time.Minute, 30 * time.Minute},
	}
	for i, st := range steps {
		if st.server {
			moved, err := s.SetActivity(ctx, "alice", "", t0.Add(st.at))
			if err != nil || moved != st.moved {
				t.Errorf("step %d: SetActivity(+%v) = %v, %v; want %v", i, st.at, moved, err, st.moved)
			}
		} else if err := s.TouchUserActivity(ctx, "alice", t0.Add(st.at)); err != nil {
			t.Errorf("step %d: TouchUserActivity: %v", i, err)
		}
		sv := must(s.GetServer(ctx, "alice", ""))(t)
		u := must(s.GetUser(ctx, "alice"))(t)
		sameTime(t, fmt.Sprintf("step %d: server activity", i), sv.LastActivity, t0.Add(st.wantServer))
		sameTime(t, fmt.Sprintf("step %d: user activity", i), u.LastActivity, t0.Add(st.wantUserLast))
	}
	// Whole seconds against fractions: in SQLite the times are compared as
	// text, which is only right if every time is written at one width.
	whole := t0.Add(time.Hour).Truncate(time.Second)
	for i, at := range []time.Time{whole.Add(500 * time.Millisecond), whole, whole.Add(time.Microsecond)} {
		moved, err := s.SetActivity(ctx, "alice", "", at)
		if err != nil || moved != (i == 0) {
			t.Errorf("SetActivity(%v) = %v, %v; want %v", at, moved, err, i == 0)
		}
	}
	sameTime(t, "activity after sub-second reports", must(s.GetServer(ctx, "alice", ""))(t).LastActivity, whole.Add(500*time.Millisecond))

	_, err := s.SetActivity(ctx, "alice", "nope", t0)
	wantErr(t, "SetActivity of an unknown server", err, gateway.ErrNotFound)
	wantErr(t, "TouchUserActivity of an unknown user", s.TouchUserActivity(ctx, "nobody", t0), gateway.ErrNotFound)

	// Reports racing in any order end at the newest.
	offsets := rand.Perm(40)
	var wg sync.WaitGroup
	for _, off := range offsets {
		wg.Go(func() {
			if _, err := s.SetActivity(ctx, "alice", "", t0.Add(2*time.Hour+time.Duration(off)*time.Second)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	newest := t0.Add(2*time.Hour + time.Duration(slices.Max(offsets))*time.Second)
	sameTime(t, "activity after concurrent reports", must(s.GetServer(ctx, "alice", ""))(t).LastActivity, newest)
}
