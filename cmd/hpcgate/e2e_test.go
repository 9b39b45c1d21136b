package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"hpcgate/batch/batchtest"
)

// TestEndToEnd is the flow users come for, on the real loopback cluster:
// alice logs in with LDAP, spawns, her job is queued and runs, the notebook
// answers through /user/alice/ over the SSH tunnel, a kernel prints 42 over
// the proxied WebSocket, bob is refused, and stopping removes the job.
func TestEndToEnd(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	h := startHub(t, c, siteFor(t, c, port), port)

	alice := newBrowser(t, h.base)
	alice.login("alice", "alice-pass")
	// The "later" profile asks Slurm to start the job in an hour, so it
	// waits in the queue (reason BeginTime) until the test lets it start.
	code, body, hdr := alice.postForm("/hub/spawn", "/hub/spawn", url.Values{
		"cluster": {"local"}, "profile": {"later"},
	})
	if code != http.StatusFound && code != http.StatusSeeOther {
		t.Fatalf("spawn form: %d\n%s", code, body)
	}
	if loc := hdr.Get("Location"); !strings.Contains(loc, "/hub/spawn-pending/alice") {
		t.Fatalf("spawn redirected to %q", loc)
	}
	aliceToken := newToken(t, h.site, "alice")
	queued := follow(t, h.base, aliceToken, "alice", time.Minute, func(ev progressEvent) bool {
		return ev.State == "queued" && ev.Reason == "BeginTime" && ev.JobID != ""
	})
	jobID := queued[len(queued)-1].JobID
	if got := squeue(t, c, jobID); got != "PENDING" {
		t.Fatalf("squeue says job %s is %q, want PENDING", jobID, got)
	}
	scontrol(t, c, "update", "jobid="+jobID, "StartTime=now")
	released := time.Now()
	events := follow(t, h.base, aliceToken, "alice", 3*time.Minute, func(ev progressEvent) bool { return ev.Ready })
	t.Logf("job allowed to start to notebook answering through the tunnel: %s", time.Since(released).Round(10*time.Millisecond))
	var sawRunning bool
	for _, ev := range events {
		sawRunning = sawRunning || ev.State == "starting"
		if ev.State != "" && ev.JobID != jobID {
			t.Errorf("event for job %q, want %s: %+v", ev.JobID, jobID, ev)
		}
	}
	if !sawRunning {
		t.Errorf("progress did not show the job running before ready: %+v", events)
	}
	if got := squeue(t, c, jobID); got != "RUNNING" {
		t.Fatalf("squeue says job %s is %q, want RUNNING", jobID, got)
	}

	// The notebook answers through the proxy and the tunnel, as alice.
	code, out := api(t, h.base, aliceToken, "GET", "/user/alice/api/status", nil)
	if code != 200 {
		t.Fatalf("GET /user/alice/api/status: %d %s", code, out)
	}
	if got := runKernel(t, h.base, aliceToken, "alice", "print(6*7)"); got != "42\n" {
		t.Fatalf("kernel printed %q, want 42", got)
	}

	// bob may not, with his token or with his cookie.
	bobToken := newToken(t, h.site, "bob")
	if code, _ := api(t, h.base, bobToken, "GET", "/user/alice/api/status", nil); code != http.StatusForbidden {
		t.Errorf("bob's token on /user/alice/: %d, want 403", code)
	}
	bob := newBrowser(t, h.base)
	bob.login("bob", "bob-pass")
	if code, _, _ := bob.get("/user/alice/tree"); code != http.StatusForbidden {
		t.Errorf("bob's cookie on /user/alice/: %d, want 403", code)
	}

	// Stop: the job leaves the queue.
	if code, out := api(t, h.base, aliceToken, "DELETE", "/hub/api/users/alice/server", nil); code != 202 && code != 204 {
		t.Fatalf("stop: %d %s", code, out)
	}
	waitFor(t, 60*time.Second, "job "+jobID+" to leave the queue", func() bool {
		s := squeue(t, c, jobID)
		return s == "" || s == "CANCELLED" || s == "COMPLETED"
	})
	waitFor(t, 30*time.Second, "the server to show as stopped", func() bool {
		_, out := api(t, h.base, aliceToken, "GET", "/hub/api/users/alice", nil)
		return !strings.Contains(string(out), `"pending":"stop"`) && !strings.Contains(string(out), `"ready":true`)
	})
}

// TestSpawnRefused: options outside the profile name the field, and
// nothing is submitted.
func TestSpawnRefused(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	h := startHub(t, c, siteFor(t, c, port), port)
	tok := newToken(t, h.site, "carol")
	before := squeueUser(t, c, "carol")
	for _, tc := range []struct {
		opts  map[string]string
		field string
	}{
		{map[string]string{"profile": "small", "walltime": "12h"}, "walltime"},
		{map[string]string{"profile": "small", "partition": "gpu"}, "partition"},
		{map[string]string{"profile": "small", "partition": "debug;touch /tmp/pwned"}, "partition"},
		{map[string]string{"profile": "small", "walltime": "1h$(id)"}, "walltime"},
		{map[string]string{"profile": "small", "cores": "1`id`"}, "cores"},
		{map[string]string{"profile": "small", "memory": "1G|id"}, "memory"},
		{map[string]string{"profile": "nope"}, "profile"},
	} {
		code, out := api(t, h.base, tok, "POST", "/hub/api/users/carol/server", tc.opts)
		if code != http.StatusBadRequest || !strings.Contains(string(out), tc.field) {
			t.Errorf("spawn %v: %d %s; want 400 naming %q", tc.opts, code, out, tc.field)
		}
	}
	if after := squeueUser(t, c, "carol"); after != before {
		t.Errorf("carol's jobs changed from %q to %q: something was submitted", before, after)
	}
}

// TestSchedulerWordsShown: when sbatch refuses a job, the user sees
// Slurm's own words.
func TestSchedulerWordsShown(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	h := startHub(t, c, siteFor(t, c, port), port)
	tok := newToken(t, h.site, "carol")
	if code, out := api(t, h.base, tok, "POST", "/hub/api/users/carol/server", map[string]string{"profile": "broken"}); code != 202 {
		t.Fatalf("spawn: %d %s", code, out)
	}
	evs := followEvents(t, h.base, tok, "carol", time.Minute, true, func(ev progressEvent) bool { return ev.Failed })
	if msg := evs[len(evs)-1].Message; !strings.Contains(msg, "Invalid partition name specified") {
		t.Errorf("the failure does not show Slurm's words: %q", msg)
	}
}

// TestRestartAdoption kills the hub with SIGKILL while alice's server runs
// and bob's job waits in the queue; after the restart both are followed and
// alice's notebook answers again with no new spawn.
func TestRestartAdoption(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	h := startHub(t, c, siteFor(t, c, port), port)
	aliceToken, bobToken := newToken(t, h.site, "alice"), newToken(t, h.site, "bob")
	t.Cleanup(func() {
		api(t, h.base, aliceToken, "DELETE", "/hub/api/users/alice/server", nil)
		api(t, h.base, bobToken, "DELETE", "/hub/api/users/bob/server", nil)
	})

	if code, out := api(t, h.base, aliceToken, "POST", "/hub/api/users/alice/server", map[string]string{"profile": "small", "walltime": "20m"}); code != 202 && code != 201 {
		t.Fatalf("spawn alice: %d %s", code, out)
	}
	if code, out := api(t, h.base, bobToken, "POST", "/hub/api/users/bob/server", map[string]string{"profile": "later"}); code != 202 {
		t.Fatalf("spawn bob: %d %s", code, out)
	}
	ready := follow(t, h.base, aliceToken, "alice", 3*time.Minute, func(ev progressEvent) bool { return ev.Ready })
	aliceJob := ready[len(ready)-1].JobID
	queued := follow(t, h.base, bobToken, "bob", time.Minute, func(ev progressEvent) bool {
		return ev.State == "queued" && ev.Reason == "BeginTime"
	})
	bobJob := queued[len(queued)-1].JobID

	h.stop(syscall.SIGKILL)
	h.start()

	// alice's notebook answers at once, same job.
	if code, out := api(t, h.base, aliceToken, "GET", "/user/alice/api/status", nil); code != 200 {
		t.Fatalf("after restart, /user/alice/api/status: %d %s", code, out)
	}
	ev := follow(t, h.base, aliceToken, "alice", 10*time.Second, func(ev progressEvent) bool { return ev.State != "" })
	if last := ev[len(ev)-1]; !last.Ready || last.JobID != aliceJob {
		t.Errorf("after restart alice's server is %+v, want ready with job %s", last, aliceJob)
	}
	// bob's job is still followed: release it and watch it become ready.
	ev = follow(t, h.base, bobToken, "bob", 20*time.Second, func(ev progressEvent) bool { return ev.State != "" })
	if last := ev[len(ev)-1]; last.State != "queued" || last.JobID != bobJob {
		t.Fatalf("after restart bob's server is %+v, want queued job %s", last, bobJob)
	}
	scontrol(t, c, "update", "jobid="+bobJob, "StartTime=now")
	done := follow(t, h.base, bobToken, "bob", 3*time.Minute, func(ev progressEvent) bool { return ev.Ready })
	if got := done[len(done)-1].JobID; got != bobJob {
		t.Errorf("bob's ready server runs job %s, want %s", got, bobJob)
	}
}

// runKernel starts a kernel on user's notebook, runs code over the proxied
// WebSocket and returns what it printed.
func runKernel(t *testing.T, base, token, user, code string) string {
	t.Helper()
	status, out := api(t, base, token, "POST", "/user/"+user+"/api/kernels", map[string]string{"name": "python3"})
	if status != 201 {
		t.Fatalf("start kernel: %d %s", status, out)
	}
	var k struct{ ID string }
	json.Unmarshal(out, &k)
	defer api(t, base, token, "DELETE", "/user/"+user+"/api/kernels/"+k.ID, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/user/" + user + "/api/kernels/" + k.ID + "/channels"
	conn, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"token " + token}, "Origin": {base}},
	})
	if err != nil {
		t.Fatalf("kernel websocket: %v", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 22)
	msgID := "hpcgate-e2e-1"
	req, _ := json.Marshal(map[string]any{
		"header": map[string]any{"msg_id": msgID, "username": user, "session": "hpcgate-e2e",
			"msg_type": "execute_request", "version": "5.3"},
		"parent_header": map[string]any{}, "metadata": map[string]any{}, "channel": "shell", "buffers": []any{},
		"content": map[string]any{"code": code, "silent": false, "store_history": false,
			"user_expressions": map[string]any{}, "allow_stdin": false, "stop_on_error": true},
	})
	if err := conn.Write(ctx, websocket.MessageText, req); err != nil {
		t.Fatalf("send execute_request: %v", err)
	}
	var printed strings.Builder
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("read kernel message: %v (printed so far %q)", err, printed.String())
		}
		var msg struct {
			Channel      string `json:"channel"`
			MsgType      string `json:"msg_type"`
			ParentHeader struct {
				MsgID string `json:"msg_id"`
			} `json:"parent_header"`
			Content struct {
				Name, Text     string
				ExecutionState string `json:"execution_state"`
			} `json:"content"`
		}
		json.Unmarshal(data, &msg)
		if msg.ParentHeader.MsgID != msgID {
			continue
		}
		switch {
		case msg.MsgType == "stream":
			printed.WriteString(msg.Content.Text)
		case msg.MsgType == "status" && msg.Content.ExecutionState == "idle":
			return printed.String()
		}
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

// squeue returns the job's state as Slurm reports it ("" once purged).
func squeue(t *testing.T, c batchtest.Cluster, id string) string {
	t.Helper()
	cmd := exec.Command("squeue", "-h", "-t", "all", "-j", id, "-o", "%T")
	cmd.Env = append(cmd.Environ(), "SLURM_CONF="+c.Get(t, "SLURM_CONF"))
	out, _ := cmd.Output()
	return strings.TrimSpace(string(out))
}

func squeueUser(t *testing.T, c batchtest.Cluster, user string) string {
	t.Helper()
	cmd := exec.Command("squeue", "-h", "-t", "all", "-u", user, "-o", "%i")
	cmd.Env = append(cmd.Environ(), "SLURM_CONF="+c.Get(t, "SLURM_CONF"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("squeue -u %s: %v", user, err)
	}
	return strings.TrimSpace(string(out))
}

func scontrol(t *testing.T, c batchtest.Cluster, args ...string) {
	t.Helper()
	cmd := exec.Command("scontrol", args...)
	cmd.Env = append(cmd.Environ(), "SLURM_CONF="+c.Get(t, "SLURM_CONF"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scontrol %v: %v %s", args, err, out)
	}
}

// TestEndToEndPBS: the same flow on the PBS stand-in, with the hub acting
// as users through sudo (the other auth mode), on a site with two clusters.
func TestEndToEndPBS(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	h := startHub(t, c, writeSite(t, c, port, pbsCluster(t, c)), port)
	tok := newToken(t, h.site, "bob")
	if code, out := api(t, h.base, tok, "POST", "/hub/api/users/bob/server", map[string]string{"cluster": "pbs", "profile": "small", "partition": "workq"}); code != 202 {
		t.Fatalf("spawn on PBS: %d %s", code, out)
	}
	events := follow(t, h.base, tok, "bob", 3*time.Minute, func(ev progressEvent) bool { return ev.Ready })
	jobID := events[len(events)-1].JobID
	if !strings.HasSuffix(jobID, ".pbsserver") {
		t.Errorf("job id %q is not a PBS id", jobID)
	}
	if code, out := api(t, h.base, tok, "GET", "/user/bob/api/status", nil); code != 200 {
		t.Fatalf("GET /user/bob/api/status: %d %s", code, out)
	}
	if got := runKernel(t, h.base, tok, "bob", "print(6*7)"); got != "42\n" {
		t.Fatalf("kernel printed %q, want 42", got)
	}
	if code, out := api(t, h.base, tok, "DELETE", "/hub/api/users/bob/server", nil); code != 202 && code != 204 {
		t.Fatalf("stop: %d %s", code, out)
	}
	qstat := filepath.Join(c.Get(t, "PBS_BIN"), "qstat")
	waitFor(t, 60*time.Second, "job "+jobID+" to finish", func() bool {
		out, _ := exec.Command(qstat, "-x", "-f", jobID).Output()
		return strings.Contains(string(out), "job_state = F")
	})
}
