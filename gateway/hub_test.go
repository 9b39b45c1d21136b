package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"hpcgate/batch"
	"hpcgate/gateway"
	"hpcgate/gateway/config"
	"hpcgate/gateway/proxy"
	"hpcgate/gateway/store"
)

// fakeScheduler is a function-field batch.Scheduler that counts calls.
type fakeScheduler struct {
	mu        sync.Mutex
	next      int
	jobs      map[string]batch.JobStatus
	statusErr error
	cancelErr error
	calls     map[string]int
	statusIDs [][]string
	history   map[string]batch.JobStatus
	specs     map[string]batch.JobSpec // what each job was submitted with
}

var (
	_ batch.Scheduler   = (*fakeScheduler)(nil)
	_ batch.History     = (*fakeScheduler)(nil)
	_ batch.QueueReader = (*fakeScheduler)(nil)
)

func newFake() *fakeScheduler {
	return &fakeScheduler{jobs: map[string]batch.JobStatus{}, calls: map[string]int{}, history: map[string]batch.JobStatus{}, specs: map[string]batch.JobSpec{}}
}

func (f *fakeScheduler) Kind() string { return "fake" }

func (f *fakeScheduler) Submit(_ context.Context, spec batch.JobSpec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["submit"]++
	if err := spec.Validate(); err != nil {
		return "", err
	}
	f.next++
	id := fmt.Sprint(f.next)
	f.jobs[id] = batch.JobStatus{ID: id, Name: spec.Name, User: spec.User, State: batch.StatePending, RawState: "PENDING", Reason: "Priority"}
	f.specs[id] = spec
	return id, nil
}

func (f *fakeScheduler) Status(_ context.Context, ids []string) (map[string]batch.JobStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["status"]++
	f.statusIDs = append(f.statusIDs, ids)
	if f.statusErr != nil {
		return nil, f.statusErr
	}
	out := map[string]batch.JobStatus{}
	for _, id := range ids {
		if j, ok := f.jobs[id]; ok {
			out[id] = j
		}
	}
	return out, nil
}

func (f *fakeScheduler) History(_ context.Context, ids []string) (map[string]batch.JobStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["history"]++
	out := map[string]batch.JobStatus{}
	for _, id := range ids {
		if j, ok := f.history[id]; ok {
			out[id] = j
		}
	}
	return out, nil
}

func (f *fakeScheduler) Queue(context.Context) ([]batch.JobStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["queue"]++
	var out []batch.JobStatus
	for _, j := range f.jobs {
		out = append(out, j)
	}
	return out, nil
}

func (f *fakeScheduler) Cancel(_ context.Context, _, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["cancel"]++
	if f.cancelErr != nil {
		return f.cancelErr
	}
	if j, ok := f.jobs[id]; ok {
		j.State, j.RawState = batch.StateCancelled, "CANCELLED"
		f.jobs[id] = j
	}
	return nil
}

func (f *fakeScheduler) set(id string, st batch.State, raw, node string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j := f.jobs[id]
	j.State, j.RawState, j.Node = st, raw, node
	f.jobs[id] = j
}

func (f *fakeScheduler) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

// noExec runs nothing: the address file never appears.
type noExec struct{}

func (noExec) Run(context.Context, batch.Command) ([]byte, error) {
	return nil, &batch.CommandError{Argv: []string{"cat"}, ExitCode: 1, Stderr: "No such file or directory"}
}

const testSite = `hub:
  data_dir: %s
ldap:
  url: ldaps://127.0.0.1:1
  user_base_dn: ou=people,dc=example,dc=org
cull:
  idle_timeout: 1h
clusters:
  - name: c1
    scheduler: slurm
    login: {host: 127.0.0.1, known_hosts: /dev/null, user_ca_key: /dev/null}
    poll_interval: 1h
    queue_timeout: 24h
    profiles:
      - name: p
        walltime: {min: 10m, max: 2h, default: 1h}
`

// testHub is a hub with the real store it runs on, which tests read and
// write behind its back.
type testHub struct {
	*gateway.Hub
	store   *store.Store
	cfg     *config.Config // the hub's own: tests may change it before StartCron
	cluster *gateway.Cluster
	clock   func() time.Time
}

// newTestHub returns a hub on a fake scheduler, with the pollers not
// started: tests call poll themselves, so every command is counted.
func newTestHub(t *testing.T) (*testHub, *fakeScheduler, *gateway.Poller, *time.Time) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "site.yaml"), []byte(fmt.Sprintf(testSite, dir)), batch.Kind{Name: "slurm"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	db, err := store.OpenWith(context.Background(), "sqlite://"+filepath.Join(dir, "db.sqlite"), store.OpenOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fake := newFake()
	c := &gateway.Cluster{Config: &cfg.Clusters[0], Scheduler: fake, Exec: noExec{},
		Dial: func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("no tunnel") }}
	h := gateway.New(gateway.Options{Config: cfg, Clusters: map[string]*gateway.Cluster{"c1": c},
		Servers: db, Users: db, Tokens: db, Sessions: db, Events: db, Routes: testRouter{proxy.New(proxy.Config{})},
		Now: clock})
	t.Cleanup(h.Close)
	return &testHub{Hub: h, store: db, cfg: cfg, cluster: c, clock: clock}, fake, h.TestPoller("c1"), &now
}

func spawnAndWait(t *testing.T, h *testHub, user string) *gateway.ServerInfo {
	t.Helper()
	ctx := context.Background()
	if _, err := h.Spawn(ctx, gateway.SpawnRequest{User: user}); err != nil {
		t.Fatalf("spawn %s: %v", user, err)
	}
	h.Wait() // the background submission
	info, err := h.Server(ctx, user, "")
	if err != nil {
		t.Fatal(err)
	}
	if info.JobID == "" || info.State != gateway.StateQueued {
		t.Fatalf("%s's server after submit: %+v", user, info)
	}
	return info
}

// TestOneStatusCommandForAllJobs: however many servers, one poll is one
// Status call carrying every job id.
func TestOneStatusCommandForAllJobs(t *testing.T) {
	h, fake, p, _ := newTestHub(t)
	for i := range 25 {
		spawnAndWait(t, h, fmt.Sprintf("user%02d", i))
	}
	p.Poll(context.Background())
	if n := fake.count("status"); n != 1 {
		t.Fatalf("one poll made %d status calls, want 1", n)
	}
	if got := len(fake.statusIDs[0]); got != 25 {
		t.Errorf("the status call asked for %d jobs, want 25", got)
	}
}

// TestFailedQueryChangesNothing: a scheduler error is never a state, and a
// job missing once is not declared gone.
func TestFailedQueryChangesNothing(t *testing.T) {
	h, fake, p, _ := newTestHub(t)
	ctx := context.Background()
	info := spawnAndWait(t, h, "alice")

	fake.statusErr = &batch.CommandError{Argv: []string{"squeue"}, ExitCode: 1, Stderr: "slurm_load_jobs error: Unable to contact slurm controller (connect failure)"}
	for range 3 {
		p.Poll(ctx)
	}
	if got, _ := h.Server(ctx, "alice", ""); got.State != gateway.StateQueued {
		t.Fatalf("after failed queries the server is %s, want queued", got.State)
	}
	fake.statusErr = nil

	// Missing from the queue once: still queued. Twice, with no history: gone.
	fake.mu.Lock()
	delete(fake.jobs, info.JobID)
	fake.mu.Unlock()
	p.Poll(ctx)
	if got, _ := h.Server(ctx, "alice", ""); got.State != gateway.StateQueued {
		t.Fatalf("after one miss the server is %s, want queued", got.State)
	}
	p.Poll(ctx)
	got, _ := h.Server(ctx, "alice", "")
	if got.State != gateway.StateFailed || !strings.Contains(got.Reason, "no longer known") {
		t.Fatalf("after two misses: %s %q", got.State, got.Reason)
	}
	if fake.count("history") != 2 {
		t.Errorf("history asked %d times, want once per poll with missing jobs (2)", fake.count("history"))
	}
}

// TestHistoryConfirmsEnd: a job gone from the queue whose history says
// TIMEOUT ends the server as stopped by walltime at once.
func TestHistoryConfirmsEnd(t *testing.T) {
	h, fake, p, _ := newTestHub(t)
	ctx := context.Background()
	info := spawnAndWait(t, h, "alice")
	fake.mu.Lock()
	delete(fake.jobs, info.JobID)
	// As a real History reports a job it still lists: with owner and name.
	fake.history[info.JobID] = batch.JobStatus{ID: info.JobID, Name: info.JobName, User: "alice", State: batch.StateTimeout, RawState: "TIMEOUT"}
	fake.mu.Unlock()
	p.Poll(ctx)
	got, _ := h.Server(ctx, "alice", "")
	if got.State != gateway.StateStopped || !strings.Contains(got.Reason, "walltime") {
		t.Fatalf("server %s %q, want stopped by walltime", got.State, got.Reason)
	}
}

// TestForeignRecordChangesNothing: a record for the server's job id that
// names another owner or another job name (a forged or reused id) changes
// nothing, whatever state it claims; nor does one from History.
func TestForeignRecordChangesNothing(t *testing.T) {
	h, fake, p, _ := newTestHub(t)
	ctx := context.Background()
	info := spawnAndWait(t, h, "alice")
	for _, forged := range []batch.JobStatus{
		{ID: info.JobID, Name: info.JobName, User: "bob", State: batch.StateCancelled, RawState: "CANCELLED"},
		{ID: info.JobID, Name: info.JobName + "x", User: "alice", State: batch.StateRunning, RawState: "RUNNING", Node: "n1"},
		{ID: info.JobID, State: batch.StateUnrecognised, RawState: "UNREADABLE"},
	} {
		fake.mu.Lock()
		fake.jobs[info.JobID] = forged
		fake.mu.Unlock()
		p.Poll(ctx)
		got, _ := h.Server(ctx, "alice", "")
		if got.State != gateway.StateQueued || got.Node != "" {
			t.Fatalf("after record %+v the server is %s on %q, want queued as before", forged, got.State, got.Node)
		}
	}
	fake.mu.Lock()
	delete(fake.jobs, info.JobID)
	fake.history[info.JobID] = batch.JobStatus{ID: info.JobID, Name: info.JobName, User: "bob", State: batch.StateCompleted, RawState: "COMPLETED"}
	fake.mu.Unlock()
	p.Poll(ctx)
	if got, _ := h.Server(ctx, "alice", ""); got.State != gateway.StateQueued {
		t.Fatalf("after a foreign history record the server is %s, want queued", got.State)
	}
}

// TestUnrecognisedStateChangesNothing: a listed job in a state the adapter
// does not map leaves a ready server ready, shows the scheduler's word, and
// the word goes when the job is running again.
func TestUnrecognisedStateChangesNothing(t *testing.T) {
	h, fake, p, _ := newTestHub(t)
	ctx := context.Background()
	info := spawnAndWait(t, h, "alice")
	if _, err := h.store.SetState(ctx, serverID(t, h, "alice"), []gateway.ServerState{gateway.StateQueued}, gateway.StateReady, ""); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	js := fake.jobs[info.JobID]
	js.State, js.RawState, js.Node = batch.StateUnrecognised, "STOPPED", "n1"
	fake.jobs[info.JobID] = js
	fake.mu.Unlock()
	for i := 0; i < 3; i++ {
		p.Poll(ctx)
		got, _ := h.Server(ctx, "alice", "")
		if got.State != gateway.StateReady || !strings.Contains(got.Reason, "STOPPED") {
			t.Fatalf("poll %d with the job STOPPED: server %s %q, want ready with the word shown", i, got.State, got.Reason)
		}
	}
	fake.mu.Lock()
	js.State, js.RawState = batch.StateRunning, "RUNNING"
	fake.jobs[info.JobID] = js
	fake.mu.Unlock()
	p.Poll(ctx)
	if got, _ := h.Server(ctx, "alice", ""); got.State != gateway.StateReady || got.Reason != "" {
		t.Fatalf("running again: server %s %q, want ready without the word", got.State, got.Reason)
	}
}

// TestQueueTimeoutCancels and the long wait without a timeout is honest.
func TestQueueTimeoutCancels(t *testing.T) {
	h, fake, p, now := newTestHub(t)
	ctx := context.Background()
	spawnAndWait(t, h, "alice")
	*now = now.Add(23 * time.Hour)
	p.Poll(ctx)
	if got, _ := h.Server(ctx, "alice", ""); got.State != gateway.StateQueued || got.Reason != "Priority" {
		t.Fatalf("after 23h: %s %q, want queued (Priority)", got.State, got.Reason)
	}
	*now = now.Add(2 * time.Hour)
	p.Poll(ctx)
	got, _ := h.Server(ctx, "alice", "")
	if got.State != gateway.StateFailed || fake.count("cancel") != 1 || !strings.Contains(got.Reason, "queue timeout") {
		t.Fatalf("after 25h: %s %q, %d cancels", got.State, got.Reason, fake.count("cancel"))
	}
}

// TestQueueSnapshotOnePerInterval: however many viewers, the whole queue is
// read at most once per poll interval, and only while someone watches.
func TestQueueSnapshotOnePerInterval(t *testing.T) {
	h, fake, p, now := newTestHub(t)
	ctx := context.Background()
	p.Poll(ctx)
	if n := fake.count("queue"); n != 0 {
		t.Fatalf("nobody watching, yet %d queue commands", n)
	}
	for range 50 {
		if _, err := h.Queue("c1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := fake.count("queue"); n != 0 {
		t.Fatalf("page views ran %d queue commands, want 0", n)
	}
	p.Poll(ctx)
	p.Poll(ctx)
	if n := fake.count("queue"); n != 1 {
		t.Fatalf("two polls within the interval ran %d queue commands, want 1", n)
	}
	*now = now.Add(time.Hour)
	h.Queue("c1")
	p.Poll(ctx)
	if n := fake.count("queue"); n != 2 {
		t.Fatalf("after an interval: %d queue commands, want 2", n)
	}
	*now = now.Add(2 * time.Hour) // nobody looked for longer than watchWindow
	p.Poll(ctx)
	if n := fake.count("queue"); n != 2 {
		t.Errorf("unwatched queue still polled: %d commands", n)
	}
}

// TestCull stops an idle ready server and leaves a busy one and a queued
// one alone.
func TestCull(t *testing.T) {
	h, fake, _, now := newTestHub(t)
	ctx := context.Background()
	idle := spawnAndWait(t, h, "idle")
	busy := spawnAndWait(t, h, "busy")
	queued := spawnAndWait(t, h, "waiting")
	for _, s := range []*gateway.ServerInfo{idle, busy} {
		srv, _ := h.store.GetServer(ctx, s.User, "")
		h.store.SetState(ctx, srv.ID, []gateway.ServerState{gateway.StateQueued}, gateway.StateStarting, "")
		h.store.SetState(ctx, srv.ID, []gateway.ServerState{gateway.StateStarting}, gateway.StateReady, "")
		fake.set(s.JobID, batch.StateRunning, "RUNNING", "n1")
	}
	start := *now
	*now = start.Add(90 * time.Minute)
	if err := h.RecordActivity(ctx, "busy", "", *now); err != nil {
		t.Fatal(err)
	}
	*now = start.Add(2 * time.Hour)
	if err := h.Cull(ctx); err != nil {
		t.Fatal(err)
	}
	state := func(u string) gateway.ServerState { s, _ := h.Server(ctx, u, ""); return s.State }
	if state("idle") != gateway.StateStopping || state("busy") != gateway.StateReady || state("waiting") != gateway.StateQueued {
		t.Fatalf("after cull: idle=%s busy=%s waiting=%s", state("idle"), state("busy"), state("waiting"))
	}
	evs, _ := h.store.ListEvents(ctx, gateway.EventFilter{User: "idle", Kind: "cull"})
	if len(evs) != 1 || !strings.Contains(evs[0].Message, "idle for 2h") {
		t.Errorf("cull event: %+v", evs)
	}
	_ = queued
}

// TestStopRetriesCancel: a cancel the scheduler refused is sent again by
// the poller while the job still runs, and the server ends stopped.
func TestStopRetriesCancel(t *testing.T) {
	h, fake, p, now := newTestHub(t)
	ctx := context.Background()
	info := spawnAndWait(t, h, "alice")
	fake.cancelErr = &batch.CommandError{Argv: []string{"scancel"}, ExitCode: 1, Stderr: "scancel: error: Unable to contact slurm controller"}
	err := h.Stop(ctx, "alice", "", "alice")
	if gateway.ErrorCode(err) != gateway.EUNAVAILABLE || !strings.Contains(err.Error(), "Unable to contact slurm controller") {
		t.Fatalf("Stop with the controller down: %v", err)
	}
	fake.cancelErr = nil
	p.Poll(ctx)
	if n := fake.count("cancel"); n != 1 {
		t.Fatalf("cancel retried at once: %d calls", n)
	}
	*now = now.Add(20 * time.Second)
	p.Poll(ctx)
	if n := fake.count("cancel"); n != 2 {
		t.Fatalf("after 20 s the cancel was not retried: %d calls", n)
	}
	p.Poll(ctx)
	if got, _ := h.Server(ctx, "alice", ""); got.State != gateway.StateStopped {
		t.Fatalf("after the retried cancel the server is %s (job %s)", got.State, info.JobID)
	}
}

// TestWalltimeWarning: ten minutes before the walltime ends, a ready
// server gets one warning (an event, and a progress message), and the end
// by walltime is a stop, not a failure.
func TestWalltimeWarning(t *testing.T) {
	h, fake, p, now := newTestHub(t)
	ctx := context.Background()
	info := spawnAndWait(t, h, "alice")
	srv, _ := h.store.GetServer(ctx, "alice", "")
	h.store.SetState(ctx, srv.ID, []gateway.ServerState{gateway.StateQueued}, gateway.StateStarting, "")
	h.store.SetState(ctx, srv.ID, []gateway.ServerState{gateway.StateStarting}, gateway.StateReady, "")
	fake.set(info.JobID, batch.StateRunning, "RUNNING", "n1")
	events, done := h.Subscribe("alice", "")
	defer done()
	<-events

	*now = now.Add(45 * time.Minute)
	p.Poll(ctx)
	*now = now.Add(6 * time.Minute) // 9 minutes left
	p.Poll(ctx)
	p.Poll(ctx)
	evs, _ := h.store.ListEvents(ctx, gateway.EventFilter{User: "alice", Kind: "walltime-warning"})
	if len(evs) != 1 || !strings.Contains(evs[0].Message, "9m") {
		t.Fatalf("walltime warnings: %+v, want one saying 9m", evs)
	}
	var warned bool
	for len(events) > 0 {
		if ev := <-events; ev.Ready && strings.Contains(ev.Warning, "end of its walltime") {
			warned = true
		}
	}
	if !warned {
		t.Error("no progress event carried the warning")
	}
	fake.set(info.JobID, batch.StateTimeout, "TIMEOUT", "n1")
	p.Poll(ctx)
	if got, _ := h.Server(ctx, "alice", ""); got.State != gateway.StateStopped || !strings.Contains(got.Reason, "walltime") {
		t.Errorf("after TIMEOUT: %s %q, want stopped by walltime", got.State, got.Reason)
	}
}

// TestReconcileAddsNoQuery: with the poller up to date, reconcile runs no
// scheduler command; once the poller fell behind a whole interval, one.
func TestReconcileAddsNoQuery(t *testing.T) {
	h, fake, p, now := newTestHub(t)
	ctx := context.Background()
	spawnAndWait(t, h, "alice")
	p.Poll(ctx)
	h.Reconcile(ctx)
	if n := fake.count("status"); n != 1 {
		t.Fatalf("reconcile right after a poll: %d status calls, want 1", n)
	}
	*now = now.Add(2 * time.Hour)
	h.Reconcile(ctx)
	if n := fake.count("status"); n != 2 {
		t.Fatalf("reconcile after the poller fell behind: %d status calls, want 2", n)
	}
}

func serverID(t *testing.T, h *testHub, user string) int64 {
	t.Helper()
	srv, err := h.store.GetServer(context.Background(), user, "")
	if err != nil {
		t.Fatal(err)
	}
	return srv.ID
}

// testRouter is the proxy as the hub's Router (cmd's adapter, for tests).
type testRouter struct{ *proxy.Proxy }

func (r testRouter) SetRoute(user, server string, t gateway.RouteTarget) error {
	return r.Routes().Set(user, server, proxy.Target{Host: t.Host, Port: t.Port, Dial: t.Dial})
}
