package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hpcgate/gateway"
	"hpcgate/gateway/config"
)

func testStartServer(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t)
	spawn := gateway.NewServer{User: "alice", Cluster: "local", Profile: "small",
		Resources: config.Resources{Partition: "debug", Cores: 1, MemoryMB: 1024, Walltime: 90 * time.Minute, Extra: []string{"--constraint=avx2"}},
		JobName:   "hpcgate-alice-default-a1"}

	_, err := s.StartServer(ctx, gateway.NewServer{User: "nobody", JobName: "hpcgate-nobody-default-x"})
	wantErr(t, "StartServer for an unknown user", err, gateway.ErrNotFound)
	if _, err := s.StartServer(ctx, gateway.NewServer{User: "alice"}); err == nil {
		t.Error("StartServer without a job name succeeded")
	}

	sv := must(s.StartServer(ctx, spawn))(t)
	if sv.ID == 0 || sv.User != "alice" || sv.Name != "" || sv.Cluster != "local" || sv.Profile != "small" ||
		sv.State != gateway.StateSubmitting || sv.JobName != spawn.JobName || sv.JobID != "" || sv.TokenID != 0 ||
		!reflect.DeepEqual(sv.Resources, spawn.Resources) || sv.ExitCode != nil {
		t.Errorf("StartServer = %+v", sv)
	}
	sameTime(t, "Created", sv.Created, e.clock.Now())
	if got := must(s.GetServer(ctx, "alice", ""))(t); fmt.Sprint(got) != fmt.Sprint(sv) {
		t.Errorf("GetServer = %+v\nwant %+v", got, sv)
	}
	_, err = s.StartServer(ctx, spawn)
	wantErr(t, "StartServer of an active server", err, gateway.ErrConflict)
	_, err = s.StartServer(ctx, gateway.NewServer{User: "alice", Name: "gpu", JobName: spawn.JobName})
	wantErr(t, "StartServer with a used job name", err, gateway.ErrConflict)
	_, err = s.GetServer(ctx, "alice", "gpu")
	wantErr(t, "GetServer of the refused server", err, gateway.ErrNotFound)

	// Run the spawn to its end, then spawn again on the same row.
	tok, _ := must2(t)(s.NewToken(ctx, gateway.TokenSpec{User: "alice", Kind: gateway.TokenServer, ServerID: sv.ID}))
	tokRow := must(s.LookupToken(ctx, tok))(t)
	if err := s.SetTokenID(ctx, sv.ID, tokRow.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.SetJobID(ctx, sv.ID, "101"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAddress(ctx, sv.ID, "cn01", 41000); err != nil {
		t.Fatal(err)
	}
	code := 0
	if err := s.SetSchedStatus(ctx, sv.ID, gateway.SchedStatus{State: "COMPLETED", Node: "cn01", ExitCode: &code}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteServer of an active server", s.DeleteServer(ctx, "alice", ""), gateway.ErrConflict)
	must(s.SetState(ctx, sv.ID, gateway.ActiveStates, gateway.StateStopped, "walltime"))(t)

	e.clock.Advance(time.Hour)
	again := spawn
	again.Profile, again.Resources, again.JobName = "custom", config.Resources{Cores: 4, Walltime: time.Hour}, "hpcgate-alice-default-b2"
	sv2 := must(s.StartServer(ctx, again))(t)
	if sv2.ID != sv.ID || sv2.State != gateway.StateSubmitting || sv2.JobID != "" || sv2.JobName != again.JobName ||
		sv2.Host != "" || sv2.Port != 0 || sv2.Node != "" || sv2.SchedState != "" || sv2.Reason != "" ||
		sv2.ExitCode != nil || sv2.TokenID != 0 || !sv2.Submitted.IsZero() || !sv2.Stopped.IsZero() ||
		sv2.Profile != "custom" || !reflect.DeepEqual(sv2.Resources, again.Resources) {
		t.Errorf("reset server = %+v, want a fresh spawn on row %d", sv2, sv.ID)
	}
	sameTime(t, "Created of the reused row", sv2.Created, sv.Created)
	sameTime(t, "Updated", sv2.Updated, e.clock.Now())
	_, err = s.LookupToken(ctx, tok)
	wantErr(t, "the previous spawn's server token", err, gateway.ErrNotFound)

	must(s.SetState(ctx, sv.ID, gateway.ActiveStates, gateway.StateFailed, "sbatch: invalid partition"))(t)
	if err := s.DeleteServer(ctx, "alice", ""); err != nil {
		t.Errorf("DeleteServer of a failed server: %v", err)
	}
	wantErr(t, "DeleteServer twice", s.DeleteServer(ctx, "alice", ""), gateway.ErrNotFound)
	sv3 := must(s.StartServer(ctx, gateway.NewServer{User: "alice", JobName: "hpcgate-alice-default-c3"}))(t)
	if sv3.ID <= sv.ID {
		t.Errorf("new row id %d reuses or precedes the deleted %d", sv3.ID, sv.ID)
	}
}

func testConcurrent(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t)
	sv := must(s.StartServer(ctx, gateway.NewServer{User: "alice", JobName: "hpcgate-alice-default-1"}))(t)
	must(s.SetState(ctx, sv.ID, []gateway.ServerState{gateway.StateSubmitting}, gateway.StateQueued, ""))(t)

	// Many pollers see the job start at once: one transition happens.
	var moved atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			ok, err := s.SetState(ctx, sv.ID, []gateway.ServerState{gateway.StateQueued}, gateway.StateStarting, "")
			if err != nil {
				t.Error(err)
			}
			if ok {
				moved.Add(1)
			}
		})
	}
	wg.Wait()
	if moved.Load() != 1 {
		t.Errorf("%d of 16 concurrent queued → starting transitions happened, want 1", moved.Load())
	}

	// Double-clicked spawn buttons: one server.
	var started atomic.Int32
	for i := range 8 {
		wg.Go(func() {
			_, err := s.StartServer(ctx, gateway.NewServer{User: "alice", Name: "twin", JobName: fmt.Sprintf("hpcgate-alice-twin-%d", i)})
			switch {
			case err == nil:
				started.Add(1)
			case !errors.Is(err, gateway.ErrConflict):
				t.Errorf("concurrent StartServer: %v, want nil or gateway.ErrConflict", err)
			}
		})
	}
	wg.Wait()
	if started.Load() != 1 {
		t.Errorf("%d of 8 concurrent StartServer calls for one server succeeded, want 1", started.Load())
	}

	// Many users at once, each through a whole spawn, through two stores
	// on one database as when `hpcgate token` runs beside the hub.
	other := e.open(t, OpenOptions{})
	defer other.Close()
	const n = 24
	for i := range n {
		wg.Go(func() {
			st := s
			if i%2 == 1 {
				st = other
			}
			if err := spawnAll(ctx, st, fmt.Sprintf("user%02d", i), e.clock.Now()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	active := must(s.ListActiveServers(ctx))(t)
	if len(active) != n+2 {
		t.Errorf("%d active servers, want %d", len(active), n+2)
	}
	for _, a := range active {
		if a.User != "alice" && (a.State != gateway.StateReady || a.JobID == "" || a.Port == 0) {
			t.Errorf("server of %s after a concurrent spawn: %+v", a.User, a)
		}
	}
	if evs := must(s.ListEvents(ctx, gateway.EventFilter{Limit: 1000}))(t); len(evs) != n {
		t.Errorf("%d events, want %d", len(evs), n)
	}
}

// spawnAll runs user through everything the hub writes for one spawn.
func spawnAll(ctx context.Context, s *Store, user string, now time.Time) error {
	if _, err := s.UpsertUser(ctx, gateway.User{Name: user, LastLogin: now}); err != nil {
		return err
	}
	sess, err := s.CreateSession(ctx, user, now.Add(time.Hour))
	if err != nil {
		return err
	}
	if _, err := s.GetSession(ctx, sess); err != nil {
		return err
	}
	sv, err := s.StartServer(ctx, gateway.NewServer{User: user, JobName: "hpcgate-" + user + "-default-1"})
	if err != nil {
		return err
	}
	plain, tok, err := s.NewToken(ctx, gateway.TokenSpec{User: user, Kind: gateway.TokenServer, ServerID: sv.ID})
	if err != nil {
		return err
	}
	if err := s.SetTokenID(ctx, sv.ID, tok.ID); err != nil {
		return err
	}
	if err := s.SetJobID(ctx, sv.ID, fmt.Sprint(1000+sv.ID)); err != nil {
		return err
	}
	for _, to := range []gateway.ServerState{gateway.StateQueued, gateway.StateStarting, gateway.StateReady} {
		if ok, err := s.SetState(ctx, sv.ID, gateway.ActiveStates, to, ""); !ok || err != nil {
			return fmt.Errorf("%s → %s: %v, %v", user, to, ok, err)
		}
	}
	if err := s.SetAddress(ctx, sv.ID, "cn01", 40000+int(sv.ID)); err != nil {
		return err
	}
	if _, err := s.LookupToken(ctx, plain); err != nil {
		return err
	}
	if _, err := s.SetActivity(ctx, user, "", now); err != nil {
		return err
	}
	_, err = s.AddEvent(ctx, gateway.Event{User: user, Kind: "spawn", JobID: fmt.Sprint(1000 + sv.ID)})
	return err
}

func testRestart(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t)
	sv := must(s.StartServer(ctx, gateway.NewServer{User: "alice", Cluster: "local", JobName: "hpcgate-alice-default-r1",
		Resources: config.Resources{Partition: "long", Cores: 1, Walltime: 4 * time.Hour}}))(t)
	if err := s.SetJobID(ctx, sv.ID, "4242"); err != nil {
		t.Fatal(err)
	}
	for _, to := range []gateway.ServerState{gateway.StateQueued, gateway.StateStarting} {
		must(s.SetState(ctx, sv.ID, gateway.ActiveStates, to, ""))(t)
	}
	if err := s.SetAddress(ctx, sv.ID, "cn03", 43210); err != nil {
		t.Fatal(err)
	}
	done := must(s.StartServer(ctx, gateway.NewServer{User: "alice", Name: "old", JobName: "hpcgate-alice-old-r0"}))(t)
	must(s.SetState(ctx, done.ID, gateway.ActiveStates, gateway.StateFailed, "out of memory"))(t)
	plain, _ := must2(t)(s.NewToken(ctx, gateway.TokenSpec{User: "alice", Kind: gateway.TokenServer, ServerID: sv.ID}))
	sess := must(s.CreateSession(ctx, "alice", e.clock.Now().Add(time.Hour)))(t)
	before := must(s.GetServerByID(ctx, sv.ID))(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	r := e.open(t, OpenOptions{})
	defer r.Close()
	after := must(r.GetServer(ctx, "alice", ""))(t)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("after reopening:\n got %+v\nwant %+v", after, before)
	}
	active := must(r.ListActiveServers(ctx))(t)
	if len(active) != 1 || active[0].JobID != "4242" || active[0].JobName != "hpcgate-alice-default-r1" {
		t.Errorf("ListActiveServers after reopening = %+v, want the one with job 4242", active)
	}
	failed := must(r.ListServers(ctx, gateway.ServerFilter{User: "alice", States: []gateway.ServerState{gateway.StateFailed}}))(t)
	if len(failed) != 1 || failed[0].Name != "old" || failed[0].Reason != "out of memory" {
		t.Errorf("failed servers after reopening = %+v", failed)
	}
	if got := must(r.ListServers(ctx, gateway.ServerFilter{Cluster: "local"}))(t); len(got) != 1 || got[0].ID != sv.ID {
		t.Errorf("servers on cluster local = %+v, want only %d", got, sv.ID)
	}
	if tok := must(r.LookupToken(ctx, plain))(t); tok.ServerID != sv.ID {
		t.Errorf("server token after reopening: %+v", tok)
	}
	must(r.GetSession(ctx, sess))(t)
}
