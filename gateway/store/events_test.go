package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"hpcgate/gateway"
)

func testEvents(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t)
	t0 := e.clock.Now()
	add := []gateway.Event{
		{Time: t0.Add(-48 * time.Hour), User: "alice", Kind: "spawn", JobID: "1"},
		{Time: t0.Add(-25 * time.Hour), User: "alice", Server: "gpu", Kind: "spawn", JobID: "2"},
		{Time: t0.Add(-2 * time.Hour), User: "bob", Kind: "spawn", JobID: "3"},
		{Time: t0.Add(-1 * time.Hour), User: "alice", Kind: "fail", JobID: "1", Cluster: "local",
			Message: "sbatch: error: invalid partition specified: gpu", Data: map[string]any{"exit": 1.0, "stderr": "invalid partition"}},
		{User: "alice", Server: "gpu", Kind: "state", JobID: "2"}, // now
	}
	for _, ev := range add {
		if _, err := s.AddEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddEvent(ctx, gateway.Event{User: "alice"}); err == nil {
		t.Error("AddEvent without a kind succeeded")
	}
	def, gpu := "", "gpu"
	tests := []struct {
		name string
		f    gateway.EventFilter
		jobs []string // newest first
	}{
		{"all", gateway.EventFilter{}, []string{"2", "1", "3", "2", "1"}},
		{"alice", gateway.EventFilter{User: "alice"}, []string{"2", "1", "2", "1"}},
		{"alice's default server", gateway.EventFilter{User: "alice", Server: &def}, []string{"1", "1"}},
		{"alice's gpu server", gateway.EventFilter{User: "alice", Server: &gpu}, []string{"2", "2"}},
		{"limit", gateway.EventFilter{Limit: 2}, []string{"2", "1"}},
		{"since", gateway.EventFilter{Since: t0.Add(-2 * time.Hour)}, []string{"2", "1", "3"}},
		{"nobody", gateway.EventFilter{User: "carol"}, nil},
	}
	for _, tc := range tests {
		evs := must(s.ListEvents(ctx, tc.f))(t)
		var jobs []string
		for _, ev := range evs {
			jobs = append(jobs, ev.JobID)
		}
		if !slices.Equal(jobs, tc.jobs) {
			t.Errorf("%s: jobs %v, want %v", tc.name, jobs, tc.jobs)
		}
	}
	evs := must(s.ListEvents(ctx, gateway.EventFilter{User: "alice", Limit: 2}))(t)
	if ev := evs[1]; ev.Kind != "fail" || ev.Cluster != "local" || ev.Message != add[3].Message ||
		fmt.Sprint(ev.Data) != fmt.Sprint(add[3].Data) || ev.ID == 0 {
		t.Errorf("event = %+v, want %+v", ev, add[3])
	}
	sameTime(t, "event time", evs[1].Time, add[3].Time)
	sameTime(t, "event time defaulted to now", evs[0].Time, t0)

	if n := must(s.PruneEvents(ctx, t0.Add(-24*time.Hour)))(t); n != 2 {
		t.Errorf("PruneEvents(24h ago) = %d, want 2", n)
	}
	left := must(s.ListEvents(ctx, gateway.EventFilter{}))(t)
	if len(left) != 3 || left[2].JobID != "3" {
		t.Errorf("after pruning: %+v, want the 3 newest", left)
	}
	if n := must(s.PruneEvents(ctx, t0.Add(-24*time.Hour)))(t); n != 0 {
		t.Errorf("pruning again = %d, want 0", n)
	}
}

func testUsers(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t)
	t0 := e.clock.Now()
	u := must(s.UpsertUser(ctx, gateway.User{Name: "carol", Admin: true, Groups: []string{"hpc-admins", "hpcusers"}, LastLogin: t0}))(t)
	if !u.Admin || !slices.Equal(u.Groups, []string{"hpc-admins", "hpcusers"}) {
		t.Errorf("UpsertUser = %+v", u)
	}
	sameTime(t, "Created", u.Created, t0)
	sameTime(t, "LastLogin", u.LastLogin, t0)

	// A later login drops admin and changes groups; created stays.
	e.clock.Advance(time.Hour)
	u = must(s.UpsertUser(ctx, gateway.User{Name: "carol", Groups: []string{"hpcusers"}, LastLogin: e.clock.Now()}))(t)
	if u.Admin || !slices.Equal(u.Groups, []string{"hpcusers"}) {
		t.Errorf("second UpsertUser = %+v", u)
	}
	sameTime(t, "Created after a second login", u.Created, t0)
	sameTime(t, "LastLogin after a second login", u.LastLogin, e.clock.Now())
	// An update without a login time keeps the last login.
	u = must(s.UpsertUser(ctx, gateway.User{Name: "carol", Admin: true}))(t)
	sameTime(t, "LastLogin kept", u.LastLogin, e.clock.Now())
	if u.Groups == nil || len(u.Groups) != 0 {
		t.Errorf("Groups = %#v, want an empty list", u.Groups)
	}

	d := must(s.EnsureUser(ctx, "dave"))(t)
	if d.Admin || !d.LastLogin.IsZero() {
		t.Errorf("EnsureUser(dave) = %+v", d)
	}
	if c := must(s.EnsureUser(ctx, "carol"))(t); !c.Admin {
		t.Errorf("EnsureUser changed an existing user: %+v", c)
	}
	var names []string
	for _, u := range must(s.ListUsers(ctx))(t) {
		names = append(names, u.Name)
	}
	if !slices.Equal(names, []string{"alice", "carol", "dave"}) {
		t.Errorf("ListUsers = %v", names)
	}
	_, err := s.GetUser(ctx, "eve")
	wantErr(t, "GetUser of an unknown user", err, gateway.ErrNotFound)
	if _, err := s.UpsertUser(ctx, gateway.User{}); err == nil {
		t.Error("UpsertUser without a name succeeded")
	}

	// Deleting a user takes their servers, tokens and sessions along.
	must(s.StartServer(ctx, gateway.NewServer{User: "carol", JobName: "hpcgate-carol-default-1"}))(t)
	plain, _ := must2(t)(s.NewToken(ctx, gateway.TokenSpec{User: "carol", Kind: gateway.TokenAPI}))
	sess := must(s.CreateSession(ctx, "carol", e.clock.Now().Add(time.Hour)))(t)
	if err := s.DeleteUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetServer(ctx, "carol", "")
	wantErr(t, "server of a deleted user", err, gateway.ErrNotFound)
	_, err = s.LookupToken(ctx, plain)
	wantErr(t, "token of a deleted user", err, gateway.ErrNotFound)
	_, err = s.GetSession(ctx, sess)
	wantErr(t, "session of a deleted user", err, gateway.ErrNotFound)
	wantErr(t, "DeleteUser twice", s.DeleteUser(ctx, "carol"), gateway.ErrNotFound)
}
