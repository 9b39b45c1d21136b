package gateway_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"hpcgate/batch"
	"hpcgate/gateway"
	"hpcgate/gateway/config"
	"hpcgate/gateway/proxy"
	"hpcgate/gateway/store"
)

// TestSubmissionInterruptedAcrossReplicas: replica A, leading the
// cluster, dies the moment the scheduler accepted alice's job, before it
// recorded the job's id; replica B, on the same PostgreSQL, takes the
// lead, and once no submission can still be under way (adoptAfter) finds
// the job by its unique name: tracked if alice waits for it, cancelled if
// she stopped it meanwhile, the server failed if no job was accepted.
// The job is submitted once, and no server stays submitting.
func TestSubmissionInterruptedAcrossReplicas(t *testing.T) {
	for _, tc := range []struct {
		name     string
		accepted bool // the scheduler took the job before A died
		stop     bool // alice stops the server on B before it is adopted
	}{
		{name: "adopted", accepted: true},
		{name: "stopped meanwhile", accepted: true, stop: true},
		{name: "never accepted", accepted: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			pg := freshPostgresURL(t)
			clk := &testClock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
			fake := &listingFake{fakeScheduler: newFake()}
			a := newReplicaHub(t, pg, "a", clk, fake)
			b := newReplicaHub(t, pg, "b", clk, fake)

			a.poller.Poll(ctx) // a leads c1
			if !a.rep.Leads("poll:c1") {
				t.Fatal("a did not take the free lead of c1")
			}
			fake.die = func() { a.rep.Close(); a.db.Close() } // SIGKILL, as far as the database can tell
			fake.accept = tc.accepted
			if _, err := a.Spawn(ctx, gateway.SpawnRequest{User: "alice"}); err != nil {
				t.Fatal(err)
			}
			a.Wait() // the submission, which met a dead database after sbatch
			created := clk.Now()

			srv := serverOf(t, b.db)
			if srv.State != gateway.StateSubmitting || srv.JobID != "" {
				t.Fatalf("after a's death: %s with job %q, want submitting with no job id", srv.State, srv.JobID)
			}
			b.poller.Poll(ctx)
			if !b.rep.Leads("poll:c1") {
				t.Fatal("b did not take the lead a's death freed")
			}
			if n := fake.count("list"); n != 0 {
				t.Fatalf("b looked for the job %d time(s) while a submission could still be under way", n)
			}
			if tc.stop {
				if err := b.Stop(ctx, "alice", "", "alice"); err != nil {
					t.Fatal(err)
				}
			}

			clk.Advance(time.Minute + time.Second)
			b.poller.Poll(ctx)
			srv = serverOf(t, b.db)
			switch {
			case !tc.accepted:
				// The submit timeout is 2m: until a minute past it, a
				// submission may still be under way (or its replica's
				// clock behind this one's).
				for range 2 {
					if srv.State != gateway.StateSubmitting {
						t.Fatalf("a spawn with no job was given up at %s, before any submission must have ended: %s", clk.Now().Sub(created), srv.State)
					}
					clk.Advance(time.Minute + 29*time.Second)
					b.poller.Poll(ctx)
					srv = serverOf(t, b.db)
				}
				clk.Advance(time.Second)
				b.poller.Poll(ctx)
				srv = serverOf(t, b.db)
				if srv.State != gateway.StateFailed || !strings.Contains(srv.Reason, srv.JobName) {
					t.Fatalf("a spawn whose job was never accepted, %s after: %s (%q), want failed naming the job", clk.Now().Sub(created), srv.State, srv.Reason)
				}
			case tc.stop:
				if srv.JobID != "1" || fake.count("cancel") != 1 {
					t.Fatalf("stopped before adoption: job %q, %d cancel(s); want job 1 found and cancelled once", srv.JobID, fake.count("cancel"))
				}
				b.poller.Poll(ctx) // the scheduler reports it cancelled
				if srv = serverOf(t, b.db); srv.State != gateway.StateStopped {
					t.Fatalf("after the cancel was confirmed: %s, want stopped", srv.State)
				}
			default:
				if srv.JobID != "1" || srv.State != gateway.StateQueued {
					t.Fatalf("after adoption: %s with job %q, want queued with job 1", srv.State, srv.JobID)
				}
				evs, err := b.db.ListEvents(ctx, gateway.EventFilter{User: "alice", Kind: "adopted"})
				if err != nil || len(evs) != 1 {
					t.Fatalf("adopted events: %d (%v), want 1", len(evs), err)
				}
			}
			if n, want := fake.count("submit"), map[bool]int{true: 1}[tc.accepted]; n != want {
				t.Errorf("%d submissions, want %d", n, want)
			}
			t.Logf("adopted or ended %s after the spawn (adoptAfter 1m, one poll)", clk.Now().Sub(created))
		})
	}
}

// TestSubmissionOutlivesGiveUp: a submission on replica A outlives the
// time after which B, leading the cluster, gave the spawn up for lost (a
// login node hanging past the submit timeout, or A's clock behind B's).
// When the scheduler accepts the job at last, A cancels it: no job runs
// behind a failed server.
func TestSubmissionOutlivesGiveUp(t *testing.T) {
	ctx := context.Background()
	pg := freshPostgresURL(t)
	clk := &testClock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	release := make(chan struct{})
	fake := &listingFake{fakeScheduler: newFake(), accept: true}
	a := newReplicaHub(t, pg, "a", clk, fake)
	b := newReplicaHub(t, pg, "b", clk, fake)
	b.poller.Poll(ctx)  // b leads c1
	fake.hold = release // set before Spawn: read by a's submission
	if _, err := a.Spawn(ctx, gateway.SpawnRequest{User: "alice"}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(3*time.Minute + time.Second)
	b.poller.Poll(ctx)
	if srv := serverOf(t, b.db); srv.State != gateway.StateFailed {
		t.Fatalf("b left a spawn with no job %s: %s", 3*time.Minute, srv.State)
	}
	close(release)
	a.Wait()
	if fake.count("submit") != 1 || fake.count("cancel") != 1 {
		t.Fatalf("%d submit(s), %d cancel(s); want the late job cancelled", fake.count("submit"), fake.count("cancel"))
	}
	if srv := serverOf(t, b.db); srv.State != gateway.StateFailed {
		t.Errorf("the late job revived the failed server: %s", srv.State)
	}
}

// listingFake is the fake scheduler with ListByName; when die is set,
// Submit calls it as the scheduler answers (the submitting replica dies
// there), accepting the job or not.
type listingFake struct {
	*fakeScheduler
	die    func()
	accept bool
	hold   chan struct{} // if set, Submit waits for it to close first
}

var _ batch.Lister = (*listingFake)(nil)

func (f *listingFake) Submit(ctx context.Context, spec batch.JobSpec) (string, error) {
	if f.hold != nil {
		<-f.hold
	}
	die := f.die
	f.die = nil
	if die != nil && !f.accept {
		die()
		return "", errors.New("ssh: connection lost")
	}
	id, err := f.fakeScheduler.Submit(ctx, spec)
	if die != nil {
		die()
	}
	return id, err
}

func (f *listingFake) ListByName(_ context.Context, user, prefix string) ([]batch.JobStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["list"]++
	var out []batch.JobStatus
	for _, j := range f.jobs {
		if j.User == user && strings.HasPrefix(j.Name, prefix) {
			out = append(out, j)
		}
	}
	return out, nil
}

// replicaHub is a hub with its own store and store.Replica on a shared
// PostgreSQL database, its poller driven by the test.
type replicaHub struct {
	*gateway.Hub
	db     *store.Store
	rep    *store.Replica
	poller *gateway.Poller
}

func newReplicaHub(t *testing.T, pg, id string, clk *testClock, sched batch.Scheduler) *replicaHub {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "site.yaml"), []byte(fmt.Sprintf(testSite, dir)), batch.Kind{Name: "slurm"})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	db, err := store.OpenWith(ctx, pg, store.OpenOptions{Now: clk.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rep, err := db.StartReplica(ctx, store.ReplicaOptions{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rep.Close)
	c := &gateway.Cluster{Config: &cfg.Clusters[0], Scheduler: sched, Exec: noExec{},
		Dial: func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("no tunnel") }}
	h := gateway.New(gateway.Options{Config: cfg, Clusters: map[string]*gateway.Cluster{"c1": c},
		Servers: db, Users: db, Tokens: db, Sessions: db, Events: db, Routes: testRouter{proxy.New(proxy.Config{})},
		Replicas: rep, Now: clk.Now, Logger: quiet})
	t.Cleanup(h.Close)
	return &replicaHub{Hub: h, db: db, rep: rep, poller: h.TestPoller("c1")}
}

func serverOf(t *testing.T, db *store.Store) *gateway.Server {
	t.Helper()
	srv, err := db.GetServer(context.Background(), "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// freshPostgresURL makes a database of its own on the test PostgreSQL
// (HPCGATE_TEST_POSTGRES_URL, set by `make test`) and drops it after.
func freshPostgresURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv("HPCGATE_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("HPCGATE_TEST_POSTGRES_URL is not set; `make test` sets it (testdata/cluster/postgres.sh runs a private PostgreSQL)")
	}
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	b := make([]byte, 6)
	rand.Read(b)
	name := "hpcgate_t_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
