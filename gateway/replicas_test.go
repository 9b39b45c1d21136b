package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"hpcgate/batch"
	"hpcgate/gateway"
	"hpcgate/gateway/config"
	"hpcgate/gateway/proxy"
	"hpcgate/gateway/store"
)

// replicas is a gateway.Replicas whose leads the test hands out, keeping
// what was told to the other replicas.
type replicas struct {
	mu   sync.Mutex
	lead bool
	told []string
}

var _ gateway.Replicas = (*replicas)(nil)

func (r *replicas) ID() string { return "test" }
func (r *replicas) Lead(context.Context, string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lead
}
func (r *replicas) Leads(name string) bool { return r.Lead(context.Background(), name) }
func (r *replicas) Leading() []string      { return nil }
func (r *replicas) Notify(_ context.Context, topic, payload string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.told = append(r.told, topic+" "+payload)
	return nil
}
func (r *replicas) setLead(v bool) { r.mu.Lock(); r.lead = v; r.mu.Unlock() }
func (r *replicas) heard(msg string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.told, msg)
}

// TestFollowerReplica: a replica that does not lead a cluster never polls
// it, tells the leader of its spawns, serves a server another replica made
// ready (its route loaded from the database on first use) and drops that
// route when told the server stopped.
func TestFollowerReplica(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "site.yaml"), []byte(fmt.Sprintf(testSite, dir)), batch.Kind{Name: "slurm"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fake := newFake()
	c := &gateway.Cluster{Config: &cfg.Clusters[0], Scheduler: fake, Exec: noExec{},
		Dial: func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("no tunnel") }}
	px := proxy.New(proxy.Config{})
	rep := &replicas{}
	h := gateway.New(gateway.Options{Config: cfg, Clusters: map[string]*gateway.Cluster{"c1": c},
		Servers: db, Users: db, Tokens: db, Sessions: db, Events: db, Routes: testRouter{px}, Replicas: rep})
	t.Cleanup(h.Close)
	p := h.TestPoller("c1")

	info := spawnAndWait(t, &testHub{Hub: h, store: db, cfg: cfg, cluster: c}, "alice")
	p.Poll(ctx)
	if n := fake.count("status"); n != 0 {
		t.Fatalf("a follower polled: %d status calls", n)
	}
	srv, err := db.GetServer(ctx, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	if id := strconv.FormatInt(srv.ID, 10); !rep.heard("kick c1") || !rep.heard("server "+id) {
		t.Errorf("the follower's spawn of job %s was not told to the other replicas: %q", info.JobID, rep.told)
	}
	rep.setLead(true)
	p.Poll(ctx)
	if n := fake.count("status"); n != 1 {
		t.Fatalf("the leader made %d status calls in one poll, want 1", n)
	}

	// Another replica made the server ready: this one routes it on first use.
	rep.setLead(false)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.SetSchedStatus(ctx, srv.ID, gateway.SchedStatus{State: "RUNNING", Node: "node1"}))
	must(db.SetAddress(ctx, srv.ID, "node1", 40000))
	for _, to := range []gateway.ServerState{gateway.StateStarting, gateway.StateReady} {
		if _, err := db.SetState(ctx, srv.ID, []gateway.ServerState{gateway.StateQueued, gateway.StateStarting}, to, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, ok := px.Route("alice", ""); ok {
		t.Fatal("routed before any request")
	}
	h.ServeProxy(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/user/alice/api", nil), "alice", "")
	if host, port, ok := px.Route("alice", ""); !ok || host != "node1" || port != 40000 {
		t.Fatalf("after a request the route is %s:%d (%v), want node1:40000 from the database", host, port, ok)
	}

	// Stopped on another replica: told, this one drops the route at once.
	if _, err := db.SetState(ctx, srv.ID, []gateway.ServerState{gateway.StateReady}, gateway.StateStopping, ""); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	h.Hear("server", strconv.FormatInt(srv.ID, 10))
	if _, _, ok := px.Route("alice", ""); ok {
		t.Fatal("the route of a server stopped on another replica is still served")
	}
	t.Logf("route dropped %s after the message", time.Since(start))

	// A named server made ready on another replica: routed when told, not
	// on first use, since until then its path is the default server's.
	gpu, err := db.StartServer(ctx, gateway.NewServer{User: "alice", Name: "gpu", Cluster: "c1", Profile: srv.Profile,
		JobName: "hpcgate-alice-gpu-test"})
	must(err)
	must(db.SetSchedStatus(ctx, gpu.ID, gateway.SchedStatus{State: "RUNNING", Node: "node1"}))
	must(db.SetAddress(ctx, gpu.ID, "node1", 40001))
	for _, step := range [][2]gateway.ServerState{{gateway.StateSubmitting, gateway.StateQueued},
		{gateway.StateQueued, gateway.StateStarting}, {gateway.StateStarting, gateway.StateReady}} {
		if ok, err := db.SetState(ctx, gpu.ID, []gateway.ServerState{step[0]}, step[1], ""); err != nil || !ok {
			t.Fatalf("set %s → %s: %v, %v", step[0], step[1], ok, err)
		}
	}
	if h.HasRoute("alice", "gpu") {
		t.Fatal("routed before being told")
	}
	h.Hear("server", strconv.FormatInt(gpu.ID, 10))
	if !h.HasRoute("alice", "gpu") {
		t.Fatal("a named server ready on another replica has no route here after the message")
	}
}
