package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"hpcgate/batch"
	"hpcgate/gateway"
	"hpcgate/gateway/proxy"
)

// spawnNamed starts user's server name and waits for the submission.
func spawnNamed(t *testing.T, h *testHub, user, name string) *gateway.ServerInfo {
	t.Helper()
	ctx := context.Background()
	if _, err := h.Spawn(ctx, gateway.SpawnRequest{User: user, Server: name}); err != nil {
		t.Fatalf("spawn %s:%s: %v", user, name, err)
	}
	h.Wait()
	info, err := h.Server(ctx, user, name)
	if err != nil {
		t.Fatal(err)
	}
	if info.JobID == "" || info.State != gateway.StateQueued {
		t.Fatalf("%s:%s after submit: %+v", user, name, info)
	}
	return info
}

// TestNamedServersDisabled: without named_servers.enabled only the default
// server starts, refused in JupyterHub's words.
func TestNamedServersDisabled(t *testing.T) {
	h, fake, _, _ := newTestHub(t)
	_, err := h.Spawn(context.Background(), gateway.SpawnRequest{User: "alice", Server: "gpu"})
	if gateway.ErrorCode(err) != gateway.EINVALID || gateway.ErrorMessage(err) != "Named servers are not enabled." {
		t.Fatalf("spawn of a named server with named servers off: %v", err)
	}
	if n := fake.count("submit"); n != 0 {
		t.Errorf("%d jobs submitted, want none", n)
	}
}

// TestNamedServerNames: a name is a URL segment, a cookie's and a job's
// name part; anything else is refused before a job is submitted.
func TestNamedServerNames(t *testing.T) {
	h, fake, _, _ := newTestHub(t)
	h.cfg.NamedServers.Enabled = true
	for _, bad := range []string{".", "..", ".hidden", "a/b", "a b", "ü", "a%2F", "x;rm", strings.Repeat("n", gateway.MaxServerNameLen+1)} {
		_, err := h.Spawn(context.Background(), gateway.SpawnRequest{User: "alice", Server: bad})
		if gateway.ErrorCode(err) != gateway.EINVALID {
			t.Errorf("server name %q: %v, want invalid", bad, err)
		}
	}
	if n := fake.count("submit"); n != 0 {
		t.Errorf("%d jobs submitted for bad names, want none", n)
	}
	for _, good := range []string{"gpu", "GPU-2", "a.b_c~d", strings.Repeat("n", gateway.MaxServerNameLen)} {
		if err := gateway.ValidServerName(good); err != nil {
			t.Errorf("server name %q refused: %v", good, err)
		}
	}
}

// TestNamedServersSideBySide: a user's default and named servers are
// separate jobs with separate names and environments; stopping one leaves
// the other running.
func TestNamedServersSideBySide(t *testing.T) {
	h, fake, p, _ := newTestHub(t)
	h.cfg.NamedServers.Enabled = true
	ctx := context.Background()
	def := spawnAndWait(t, h, "alice")
	gpu := spawnNamed(t, h, "alice", "gpu")
	if def.JobID == gpu.JobID {
		t.Fatalf("both servers have job %s", def.JobID)
	}
	if !strings.HasPrefix(gpu.JobName, "hpcgate-alice-gpu-") || !strings.HasPrefix(def.JobName, "hpcgate-alice-default-") {
		t.Errorf("job names %q and %q", def.JobName, gpu.JobName)
	}
	if gpu.URL != "/user/alice/gpu/" || gpu.ProgressURL != "/hub/api/users/alice/servers/gpu/progress" {
		t.Errorf("named server's URLs: %q, %q", gpu.URL, gpu.ProgressURL)
	}
	fake.mu.Lock()
	env := fake.specs[gpu.JobID].App.Env
	fake.mu.Unlock()
	for k, want := range map[string]string{
		"JUPYTERHUB_SERVER_NAME":         "gpu",
		"JUPYTERHUB_SERVICE_PREFIX":      "/user/alice/gpu/",
		"JUPYTERHUB_CLIENT_ID":           "jupyterhub-user-alice-gpu",
		"JUPYTERHUB_OAUTH_CALLBACK_URL":  "/user/alice/gpu/oauth_callback",
		"JUPYTERHUB_OAUTH_ACCESS_SCOPES": `["access:servers!server=alice/gpu","access:servers!user=alice"]`,
	} {
		if env[k] != want {
			t.Errorf("named server's %s = %q, want %q", k, env[k], want)
		}
	}
	// The same name twice is refused while it runs.
	if _, err := h.Spawn(ctx, gateway.SpawnRequest{User: "alice", Server: "gpu"}); gateway.ErrorCode(err) != gateway.ECONFLICT {
		t.Errorf("second spawn of gpu: %v, want conflict", err)
	}
	fake.set(def.JobID, batch.StateRunning, "RUNNING", "node1")
	fake.set(gpu.JobID, batch.StateRunning, "RUNNING", "node2")
	p.Poll(ctx)
	if err := h.Stop(ctx, "alice", "gpu", "alice"); err != nil {
		t.Fatal(err)
	}
	p.Poll(ctx)
	if got, _ := h.Server(ctx, "alice", "gpu"); got.State != gateway.StateStopped {
		t.Errorf("gpu after stop and poll: %s", got.State)
	}
	if got, _ := h.Server(ctx, "alice", ""); !got.Active() || got.JobID != def.JobID {
		t.Errorf("default server after gpu stopped: %s job %s", got.State, got.JobID)
	}
	if err := h.Stop(ctx, "alice", "cpu", "alice"); gateway.ErrorCode(err) != gateway.ENOTFOUND ||
		gateway.ErrorMessage(err) != "alice has no server named 'cpu'" {
		t.Errorf("stop of an unknown named server: %v", err)
	}
}

// TestNamedServerLimit: limit_per_user counts named servers, stopped ones
// too, until one is removed; starting one again never counts twice; the
// default server never counts.
func TestNamedServerLimit(t *testing.T) {
	h, fake, p, _ := newTestHub(t)
	h.cfg.NamedServers.Enabled = true
	h.cfg.NamedServers.LimitPerUser = 2
	ctx := context.Background()
	spawnAndWait(t, h, "alice")
	spawnNamed(t, h, "alice", "a")
	spawnNamed(t, h, "alice", "b")
	const over = "User alice already has the maximum of 2 named servers.  One must be deleted before a new server can be created"
	if _, err := h.Spawn(ctx, gateway.SpawnRequest{User: "alice", Server: "c"}); gateway.ErrorMessage(err) != over {
		t.Fatalf("third named server: %v", err)
	}
	if err := h.Stop(ctx, "alice", "a", "alice"); err != nil {
		t.Fatal(err)
	}
	p.Poll(ctx)
	if _, err := h.Spawn(ctx, gateway.SpawnRequest{User: "alice", Server: "c"}); gateway.ErrorMessage(err) != over {
		t.Fatalf("third named server while a is only stopped: %v", err)
	}
	spawnNamed(t, h, "alice", "a") // again: no new one
	if err := h.RemoveServer(ctx, "alice", "", "alice"); gateway.ErrorMessage(err) != "Cannot delete the default server" {
		t.Errorf("remove of the default server: %v", err)
	}
	// Removing an active server stops it and deletes it once the job ended.
	if err := h.RemoveServer(ctx, "alice", "a", "alice"); err != nil {
		t.Fatal(err)
	}
	if got, err := h.Server(ctx, "alice", "a"); err != nil || got.State != gateway.StateStopping {
		t.Fatalf("a while its removal waits for the job: %+v %v", got, err)
	}
	p.Poll(ctx)
	if _, err := h.Server(ctx, "alice", "a"); gateway.ErrorCode(err) != gateway.ENOTFOUND {
		t.Fatalf("a after its job ended: %v, want gone", err)
	}
	if n := fake.count("cancel"); n < 2 {
		t.Errorf("%d cancels, want a's two jobs cancelled", n)
	}
	spawnNamed(t, h, "alice", "c")
}

// TestRemoveAfterStopSurvivesRestart: a running named server removed with
// {"remove": true} is deleted when its job ends even if the hub restarted
// in between (the mark is in the events table, not only in memory); a
// server only stopped is kept, as is one started again after a removal.
func TestRemoveAfterStopSurvivesRestart(t *testing.T) {
	h, fake, _, _ := newTestHub(t)
	h.cfg.NamedServers.Enabled = true
	ctx := context.Background()
	spawnNamed(t, h, "alice", "gpu")
	spawnNamed(t, h, "alice", "keep")
	if err := h.RemoveServer(ctx, "alice", "gpu", "carol"); err != nil {
		t.Fatal(err)
	}
	if err := h.Stop(ctx, "alice", "keep", "alice"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gpu", "keep"} {
		if got, err := h.Server(ctx, "alice", name); err != nil || got.State != gateway.StateStopping {
			t.Fatalf("%s before the restart: %+v %v", name, got, err)
		}
	}
	gpu := "gpu"
	evs, err := h.store.ListEvents(ctx, gateway.EventFilter{User: "alice", Server: &gpu, Kind: "remove"})
	if err != nil || len(evs) != 1 || evs[0].Message != "Removal requested by carol; the server is deleted once its job has ended." {
		t.Fatalf("the removal is not in the events: %+v %v", evs, err)
	}
	// The hub stops before either job ended; a new one (nothing in its
	// memory) adopts the servers and sees the jobs end at its first poll.
	h.Close()
	h2 := restartHub(t, h)
	if err := h2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h2.Server(ctx, "alice", "gpu"); gateway.ErrorCode(err) != gateway.ENOTFOUND {
		t.Errorf("gpu after its job ended under the restarted hub: %v, want deleted", err)
	}
	if got, err := h2.Server(ctx, "alice", "keep"); err != nil || got.State != gateway.StateStopped {
		t.Errorf("keep, only stopped: %+v %v, want kept as stopped", got, err)
	}

	// A removal given up (the server started again) is not carried out
	// when the new job ends.
	h2.Close()
	h3 := restartHub(t, h)
	info := spawnNamed(t, h3, "alice", "keep")
	srv, err := h.store.GetServer(ctx, "alice", "keep")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.AddEvent(ctx, gateway.Event{Time: h.clock().Add(-time.Minute), User: "alice", Server: "keep", Kind: "remove",
		Data: map[string]any{"server_id": srv.ID}}); err != nil {
		t.Fatal(err)
	}
	fake.set(info.JobID, batch.StateCompleted, "COMPLETED", "node1")
	h3.TestPoller("c1").Poll(ctx)
	if got, err := h3.Server(ctx, "alice", "keep"); err != nil || got.Active() {
		t.Errorf("keep after its new job ended: %+v %v, want kept, stopped", got, err)
	}
}

// restartHub is a new hub on h's database and scheduler, as after a
// restart: nothing of h's memory, its pollers not started.
func restartHub(t *testing.T, h *testHub) *testHub {
	h2 := gateway.New(gateway.Options{Config: h.cfg, Clusters: map[string]*gateway.Cluster{"c1": h.cluster},
		Servers: h.store, Users: h.store, Tokens: h.store, Sessions: h.store, Events: h.store, Routes: testRouter{proxy.New(proxy.Config{})},
		Now: h.clock})
	t.Cleanup(h2.Close)
	return &testHub{Hub: h2, store: h.store, cfg: h.cfg, cluster: h.cluster, clock: h.clock}
}
