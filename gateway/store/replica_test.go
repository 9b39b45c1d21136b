package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hpcgate/gateway"
)

// TestReplicas runs two replicas on one PostgreSQL database: leadership is
// exclusive and moves when its holder's connection goes, messages and
// revocations reach the other replica within a second, and a listener
// that lost its connection resyncs.
func TestReplicas(t *testing.T) {
	newURL := freshPostgres(t)
	e := &env{url: newURL(t), clock: newClock()}
	ctx := context.Background()
	a := e.store(t)
	b := e.open(t, OpenOptions{})
	closeOnCleanup(t, b)

	type msg struct{ topic, payload string }
	start := func(s *Store, id string) (*Replica, chan msg, chan struct{}) {
		heard, resynced := make(chan msg, 16), make(chan struct{}, 4)
		r, err := s.StartReplica(ctx, ReplicaOptions{ID: id,
			Hear:   func(topic, payload string) { heard <- msg{topic, payload} },
			Resync: func() { resynced <- struct{}{} },
		})
		if err != nil {
			t.Fatalf("start replica %s: %v", id, err)
		}
		t.Cleanup(r.Close)
		return r, heard, resynced
	}
	ra, heardA, _ := start(a, "a")
	rb, heardB, resyncB := start(b, "b")

	// One leader per name; different names may have different leaders.
	if !ra.Lead(ctx, "poll:local") {
		t.Fatal("a could not take a free lead")
	}
	if rb.Lead(ctx, "poll:local") {
		t.Fatal("b took the lead a holds")
	}
	if !ra.Lead(ctx, "poll:local") {
		t.Fatal("a lost its lead on asking again")
	}
	if !rb.Lead(ctx, "cron:cull") || ra.Lead(ctx, "cron:cull") {
		t.Fatal("cron:cull: want b leading, a not")
	}
	if got := strings.Join(ra.Leading(), ","); got != "poll:local" {
		t.Errorf("a leads %q, want poll:local", got)
	}

	// Messages reach the other replica, not the sender.
	if err := ra.Notify(ctx, "server", "42"); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-heardB:
		if m != (msg{"server", "42"}) {
			t.Errorf("b heard %+v", m)
		}
	case <-time.After(time.Second):
		t.Fatal("b did not hear a's message within a second")
	}
	select {
	case m := <-heardA:
		t.Errorf("a heard its own message %+v", m)
	case <-time.After(200 * time.Millisecond):
	}

	// A logout on a ends the session cached on b within a second.
	sid := must(a.CreateSession(ctx, "alice", e.clock.Now().Add(time.Hour)))(t)
	must(b.GetSession(ctx, sid))(t) // cached on b now
	must0(t, a.RevokeSession(ctx, sid))
	within(t, time.Second, "b to refuse the session a logged out", func() bool {
		_, err := b.GetSession(ctx, sid)
		return errors.Is(err, gateway.ErrNotFound)
	})

	// b's lock connection dies: b leads nothing within a second, and a
	// takes what b led.
	var pid int
	if err := a.db.GetContext(ctx, &pid, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND classid::bigint = ($1::bigint >> 32) & 4294967295 AND objid::bigint = $1::bigint & 4294967295`,
		lockKey(rb.schema, "cron:cull")); err != nil {
		t.Fatalf("find b's lock session: %v", err)
	}
	if _, err := a.db.ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	lost := time.Now()
	within(t, 1500*time.Millisecond, "b to stop leading after its lock connection died", func() bool { return !rb.Leads("cron:cull") })
	t.Logf("lock connection killed → b stopped leading: %s", time.Since(lost).Round(time.Millisecond))
	if !ra.Lead(ctx, "cron:cull") {
		t.Error("a could not take the lead b lost")
	}

	// Closing a (a hub stopping) hands its leads over.
	ra.Close()
	within(t, time.Second, "b to take the lead after a closed", func() bool { return rb.Lead(ctx, "poll:local") })

	// b's listener loses its connection: b resyncs, and what changed
	// behind its back while it could not hear is read again.
	must(b.GetUser(ctx, "alice"))(t)
	if _, err := a.db.ExecContext(ctx, "UPDATE users SET admin = true WHERE name = 'alice'"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-resyncB:
	case <-time.After(10 * time.Second):
		t.Fatal("b did not resync after its listener reconnected")
	}
	if u := must(b.GetUser(ctx, "alice"))(t); !u.Admin {
		t.Error("after the listener reconnected, b still answers alice's old rights from memory")
	}
}

// within waits up to d for ok.
func within(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClaimSQLite: a second hub on a SQLite file is refused with the file
// and the holder named; the claim ends with its holder.
func TestClaimSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hpcgate.sqlite")
	e := &env{url: "sqlite://" + path, clock: newClock()}
	s := e.open(t, OpenOptions{})
	closeOnCleanup(t, s)
	release, err := s.ClaimSQLite()
	if err != nil {
		t.Fatalf("first claim: %v", err)
	}
	_, err = s.ClaimSQLite()
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second claim: %v, want ErrInUse", err)
	}
	for _, want := range []string{path, "pid ", "on host "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not name %q", err, want)
		}
	}
	release()
	release2, err := s.ClaimSQLite()
	if err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	release2()
}
