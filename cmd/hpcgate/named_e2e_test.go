package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"hpcgate/batch/batchtest"
)

// serversOf is the servers dict of user's model (stopped ones too).
func serversOf(t *testing.T, base, token, user string) map[string]struct {
	Ready   bool
	Stopped bool
	URL     string
	HPCGate struct {
		JobID   string `json:"job_id"`
		Profile string `json:"profile"`
	} `json:"hpcgate"`
} {
	t.Helper()
	code, out := api(t, base, token, "GET", "/hub/api/users/"+user+"?include_stopped_servers", nil)
	if code != http.StatusOK {
		t.Fatalf("GET user %s: %d %s", user, code, out)
	}
	var m struct {
		Servers map[string]struct {
			Ready   bool
			Stopped bool
			URL     string
			HPCGate struct {
				JobID   string `json:"job_id"`
				Profile string `json:"profile"`
			} `json:"hpcgate"`
		}
	}
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("user model: %v: %s", err, out)
	}
	return m.Servers
}

// TestNamedServersEndToEnd: on the real Slurm cluster alice runs a named
// server "gpu" (profile small, partition long) beside her default one
// (profile later, held in the queue until released), uses both through
// the proxy with the real jupyterhub-singleuser, a kernel over each one's
// WebSocket telling which server it runs in; bob may use neither; stopping
// gpu leaves the default server running, and gpu/… then belongs to the
// default server's URL space.
func TestNamedServersEndToEnd(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	h := startHub(t, c, writeSite(t, c, port, "named_servers:\n  enabled: true\n  limit_per_user: 1\n"), port)
	alice := newToken(t, h.site, "alice")
	t.Cleanup(func() { // a failed test leaves no job behind
		api(t, h.base, alice, "DELETE", "/hub/api/users/alice/servers/gpu", nil)
		api(t, h.base, alice, "DELETE", "/hub/api/users/alice/server", nil)
	})

	if code, out := api(t, h.base, alice, "POST", "/hub/api/users/alice/servers/gpu", map[string]string{"profile": "small", "partition": "long"}); code != http.StatusAccepted && code != http.StatusCreated {
		t.Fatalf("start gpu: %d %s", code, out)
	}
	if code, out := api(t, h.base, alice, "POST", "/hub/api/users/alice/servers/second", map[string]string{}); code != http.StatusBadRequest ||
		!strings.Contains(string(out), "already has the maximum of 1 named servers") {
		t.Errorf("a second named server over limit_per_user 1: %d %s", code, out)
	}
	if code, out := api(t, h.base, alice, "POST", "/hub/api/users/alice/server", map[string]string{"profile": "later"}); code != http.StatusAccepted {
		t.Fatalf("start the default server: %d %s", code, out)
	}
	var defJob string
	waitFor(t, time.Minute, "the default server's job id", func() bool {
		defJob = serversOf(t, h.base, alice, "alice")[""].HPCGate.JobID
		return defJob != ""
	})
	scontrol(t, c, "update", "jobid="+defJob, "StartTime=now")
	waitFor(t, 3*time.Minute, "both servers ready", func() bool {
		s := serversOf(t, h.base, alice, "alice")
		return s[""].Ready && s["gpu"].Ready
	})
	s := serversOf(t, h.base, alice, "alice")
	gpuJob := s["gpu"].HPCGate.JobID
	if s["gpu"].URL != "/user/alice/gpu/" || s["gpu"].HPCGate.Profile != "small" || s[""].HPCGate.Profile != "later" || gpuJob == defJob {
		t.Fatalf("servers: %+v", s)
	}
	for _, id := range []string{defJob, gpuJob} {
		if got := squeue(t, c, id); got != "RUNNING" {
			t.Fatalf("job %s is %q, want RUNNING", id, got)
		}
	}

	// Each answers at its own prefix, HTTP and WebSocket.
	for _, p := range []string{"/user/alice/api/status", "/user/alice/gpu/api/status"} {
		if code, out := api(t, h.base, alice, "GET", p, nil); code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", p, code, out)
		}
	}
	const which = "import os; print(os.environ['JUPYTERHUB_SERVER_NAME'] or 'default', os.environ['JUPYTERHUB_CLIENT_ID'])"
	if got := runKernel(t, h.base, alice, "alice/gpu", which); got != "gpu jupyterhub-user-alice-gpu\n" {
		t.Errorf("kernel of /user/alice/gpu/ printed %q", got)
	}
	if got := runKernel(t, h.base, alice, "alice", which); got != "default jupyterhub-user-alice\n" {
		t.Errorf("kernel of /user/alice/ printed %q", got)
	}

	// bob may use neither, with his token or his cookie.
	bob := newToken(t, h.site, "bob")
	bobB := newBrowser(t, h.base)
	bobB.login("bob", "bob-pass")
	for _, p := range []string{"/user/alice/api/status", "/user/alice/gpu/api/status"} {
		if code, _ := api(t, h.base, bob, "GET", p, nil); code != http.StatusForbidden {
			t.Errorf("bob's token on %s: %d, want 403", p, code)
		}
		if code, _, _ := bobB.get(p); code != http.StatusForbidden {
			t.Errorf("bob's cookie on %s: %d, want 403", p, code)
		}
	}
	if code, _ := api(t, h.base, bob, "DELETE", "/hub/api/users/alice/servers/gpu", nil); code != http.StatusNotFound {
		t.Errorf("bob stopping alice's gpu: %d, want 404", code)
	}

	// The admin page has a row for each server with its job and its own
	// stop form; carol stops gpu there: its job leaves, the default
	// server keeps running.
	carol := newBrowser(t, h.base)
	carol.login("carol", "carol-pass")
	_, page, _ := carol.get("/hub/admin?user=alice")
	for _, w := range []string{`data-user="alice" data-server="gpu" data-state="ready"`, ">" + gpuJob + "<", `action="/hub/admin/users/alice/servers/gpu/stop"`,
		`data-user="alice" data-server="" data-state="ready"`, ">" + defJob + "<", `action="/hub/admin/users/alice/stop"`} {
		if !strings.Contains(page, w) {
			t.Errorf("the admin page lacks %s", w)
		}
	}
	if code, out, _ := carol.postForm("/hub/admin", "/hub/admin/users/alice/servers/gpu/stop", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("admin stop of gpu: %d %s", code, out)
	}
	waitFor(t, time.Minute, "gpu's job "+gpuJob+" to leave the queue", func() bool {
		st := squeue(t, c, gpuJob)
		return st == "" || st == "CANCELLED" || st == "COMPLETED"
	})
	waitFor(t, 30*time.Second, "gpu to show as stopped", func() bool { return serversOf(t, h.base, alice, "alice")["gpu"].Stopped })
	if got := squeue(t, c, defJob); got != "RUNNING" {
		t.Errorf("default job %s after gpu stopped: %q, want RUNNING", defJob, got)
	}
	if code, out := api(t, h.base, alice, "GET", "/user/alice/api/status", nil); code != http.StatusOK {
		t.Errorf("default server after gpu stopped: %d %s", code, out)
	}
	// Without gpu's route, /user/alice/gpu/… is a path of the default
	// server, which has no such page (as behind JupyterHub's proxy).
	if code, _ := api(t, h.base, alice, "GET", "/user/alice/gpu/api/status", nil); code != http.StatusNotFound {
		t.Errorf("/user/alice/gpu/api/status with gpu stopped: %d, want the default server's 404", code)
	}
	// Removed, it leaves the model and the limit.
	if code, out := api(t, h.base, alice, "DELETE", "/hub/api/users/alice/servers/gpu", map[string]bool{"remove": true}); code != http.StatusNoContent {
		t.Errorf("remove gpu: %d %s", code, out)
	}
	if _, ok := serversOf(t, h.base, alice, "alice")["gpu"]; ok {
		t.Errorf("gpu still listed after removal")
	}

	if code, out := api(t, h.base, alice, "DELETE", "/hub/api/users/alice/server", nil); code != http.StatusAccepted && code != http.StatusNoContent {
		t.Fatalf("stop the default server: %d %s", code, out)
	}
	waitFor(t, time.Minute, "the default job to leave the queue", func() bool {
		st := squeue(t, c, defJob)
		return st == "" || st == "CANCELLED" || st == "COMPLETED"
	})
}
