package web

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"hpcgate/gateway"
)

func TestRESTUsersList(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	e.serverIs(ready("alice", now), queued("bob", now))
	admin := e.apiToken("carol", TokenUser, 0, time.Time{})
	for _, u := range []string{"alice", "bob", "dave"} { // dave has no server
		if _, err := e.store.EnsureUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	// The list's filters are the database's: the same servers are there.
	e.storeServer("alice", gateway.StateReady)
	e.storeServer("bob", gateway.StateQueued)
	names := func(body string) []string {
		var ms []struct{ Name string }
		if err := json.Unmarshal([]byte(body), &ms); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.Name)
		}
		return out
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"alice", "bob", "carol", "dave"}},
		{"?state=active", []string{"alice", "bob"}},
		{"?state=ready", []string{"alice"}},
		{"?state=inactive", []string{"carol", "dave"}},
		{"?name_filter=ca", []string{"carol"}},
		{"?offset=1&limit=2", []string{"bob", "carol"}},
	}
	for _, tt := range tests {
		resp, body := e.api("GET", "/hub/api/users"+tt.query, admin, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /hub/api/users%s: %d %s", tt.query, resp.StatusCode, body)
		}
		if got := names(body); !slices.Equal(got, tt.want) {
			t.Errorf("GET /hub/api/users%s = %v, want %v", tt.query, got, tt.want)
		}
	}
	if resp, _ := e.api("GET", "/hub/api/users?state=bogus", admin, ""); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown state filter: %d, want 400", resp.StatusCode)
	}

	// Pagination, on request.
	b := e.browser()
	resp, body := b.do("GET", "/hub/api/users?limit=3", nil, http.Header{
		"Authorization": {"token " + admin}, "Accept": {"application/jupyterhub-pagination+json"}})
	var page struct {
		Items      []struct{ Name string } `json:"items"`
		Pagination struct {
			Offset, Limit, Total int
			Next                 *struct {
				Offset, Limit int
				URL           string
			}
		} `json:"_pagination"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("paginated: %d %v %s", resp.StatusCode, err, body)
	}
	if len(page.Items) != 3 || page.Pagination.Total != 4 || page.Pagination.Next == nil || page.Pagination.Next.Offset != 3 ||
		!strings.Contains(page.Pagination.Next.URL, "offset=3") {
		t.Errorf("page %+v", page.Pagination)
	}

	// Only admins list users.
	alice := e.apiToken("alice", TokenUser, 0, time.Time{})
	if resp, _ := e.api("GET", "/hub/api/users", alice, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("alice listing users: %d, want 403", resp.StatusCode)
	}
}

func TestRESTUserModel(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	e.serverIs(queued("alice", now))
	alice := e.apiToken("alice", TokenUser, 0, time.Time{})
	bob := e.apiToken("bob", TokenUser, 0, time.Time{})
	carol := e.apiToken("carol", TokenUser, 0, time.Time{})

	resp, body := e.api("GET", "/hub/api/users/alice", alice, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("alice on herself: %d %s", resp.StatusCode, body)
	}
	var m struct {
		Name    string                    `json:"name"`
		Server  *string                   `json:"server"`
		Pending *string                   `json:"pending"`
		Servers map[string]map[string]any `json:"servers"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	s := m.Servers[""]
	if m.Server != nil || m.Pending == nil || *m.Pending != "spawn" || s == nil {
		t.Fatalf("model: server %v pending %v servers %v", m.Server, m.Pending, m.Servers)
	}
	for k, want := range map[string]any{
		"name": "", "pending": "spawn", "ready": false, "stopped": false, "url": "/user/alice/",
		"progress_url": "/hub/api/users/alice/server/progress", "started": "2025-03-01T11:57:00Z",
	} {
		if s[k] != want {
			t.Errorf("servers[\"\"].%s = %#v, want %#v", k, s[k], want)
		}
	}
	hg, _ := s["hpcgate"].(map[string]any)
	for k, want := range map[string]any{
		"cluster": "local", "job_id": "4242", "state": "queued", "reason": "Resources",
		"walltime_left_seconds": float64(0), "node": "",
	} {
		if hg[k] != want {
			t.Errorf("servers[\"\"].hpcgate.%s = %#v, want %#v", k, hg[k], want)
		}
	}
	if opts, _ := s["user_options"].(map[string]any); opts["cores"] != "2" {
		t.Errorf("user_options %v", s["user_options"])
	}
	if _, ok := s["last_activity"]; !ok {
		t.Error("last_activity is missing (null is expected)")
	}
	if resp, _ := e.api("GET", "/hub/api/users/alice", bob, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob on alice: %d, want 404 (JupyterHub's answer when a scope does not cover the user)", resp.StatusCode)
	}
	if resp, _ := e.api("GET", "/hub/api/users/alice", carol, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("admin on alice: %d, want 200", resp.StatusCode)
	}
	if resp, _ := e.api("GET", "/hub/api/users/nobody", carol, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("admin on an unknown user: %d, want 404", resp.StatusCode)
	}
}

func TestRESTStartServer(t *testing.T) {
	e := newEnv(t)
	var calls []gateway.SpawnRequest
	e.spawnWithProfiles(&calls)
	alice := e.apiToken("alice", TokenUser, 0, time.Time{})
	carol := e.apiToken("carol", TokenUser, 0, time.Time{})
	bob := e.apiToken("bob", TokenUser, 0, time.Time{})

	resp, body := e.api("POST", "/hub/api/users/alice/server", alice,
		`{"cluster": "local", "profile": "custom", "cores": 3, "walltime": "8h", "partition": "long"}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start: %d %s", resp.StatusCode, body)
	}
	if len(calls) != 1 || calls[0].Options["cores"] != "3" || calls[0].Options["walltime"] != "8h" || calls[0].Profile != "custom" {
		t.Errorf("spawn request %+v", calls)
	}

	tests := []struct {
		name, body string
		fields     []string
	}{
		{"walltime too long", `{"profile": "custom", "walltime": "100h"}`, []string{"walltime"}},
		{"two bad fields", `{"profile": "custom", "cores": 9, "partition": "gpu"}`, []string{"cores", "partition"}},
		{"unknown option", `{"profile": "custom", "qos": "high"}`, []string{"qos"}},
		{"injection", `{"profile": "custom", "account": ";rm -rf /"}`, []string{"account"}},
		{"not a scalar", `{"cores": [1, 2]}`, []string{"cores"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.api("POST", "/hub/api/users/alice/server", alice, tt.body)
			var v apiError
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusBadRequest || v.Status != 400 || v.Message == "" {
				t.Fatalf("%d %s, want 400 with a message", resp.StatusCode, body)
			}
			for _, f := range tt.fields {
				if v.Fields[f] == "" || !strings.Contains(v.Message, f) {
					t.Errorf("no message for %s: %s", f, body)
				}
			}
		})
	}
	if len(calls) != 1 {
		t.Errorf("refused requests reached Hub.Spawn: %+v", calls[1:])
	}

	// Already running: JupyterHub's 400.
	e.serverIs(ready("alice", e.clock.Now()))
	resp, body = e.api("POST", "/hub/api/users/alice/server", alice, `{}`)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "already running") {
		t.Errorf("start while running: %d %s", resp.StatusCode, body)
	}
	// Ready at once: 201.
	e.serverIs()
	e.hub.SpawnFn = func(_ context.Context, req gateway.SpawnRequest) (*gateway.ServerInfo, error) {
		return ready(req.User, e.clock.Now()), nil
	}
	if resp, _ := e.api("POST", "/hub/api/users/bob/server", carol, `{}`); resp.StatusCode != http.StatusCreated {
		t.Errorf("admin starting bob's server, ready at once: %d, want 201", resp.StatusCode)
	}
	if resp, _ := e.api("POST", "/hub/api/users/alice/server", bob, `{}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob starting alice's server: %d, want 404", resp.StatusCode)
	}
}

func TestRESTStopServer(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	state := ready("alice", now)
	e.hub.ServerFn = func(_ context.Context, user, _ string) (*gateway.ServerInfo, error) {
		if user != "alice" {
			return nil, gateway.Errorf(gateway.ENOTFOUND, "no server")
		}
		c := *state
		return &c, nil
	}
	stops := 0
	e.hub.StopFn = func(_ context.Context, user, server, by string) error {
		stops++
		if user != "alice" || server != "" || by != "alice" {
			t.Errorf("Stop(%s, %q, by %s)", user, server, by)
		}
		state.State = gateway.StateStopping
		return nil
	}
	alice := e.apiToken("alice", TokenUser, 0, time.Time{})
	if resp, _ := e.api("DELETE", "/hub/api/users/alice/server", alice, ""); resp.StatusCode != http.StatusAccepted {
		t.Errorf("stop a running server: %d, want 202", resp.StatusCode)
	}
	if resp, _ := e.api("DELETE", "/hub/api/users/alice/server", alice, ""); resp.StatusCode != http.StatusAccepted || stops != 1 {
		t.Errorf("stop while stopping: %d (stops %d), want 202 and no second stop", resp.StatusCode, stops)
	}
	state.State = gateway.StateStopped
	if resp, _ := e.api("DELETE", "/hub/api/users/alice/server", alice, ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("stop a stopped server: %d, want 204", resp.StatusCode)
	}
	bob := e.apiToken("bob", TokenUser, 0, time.Time{})
	if resp, _ := e.api("DELETE", "/hub/api/users/bob/server", bob, ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("stop a server never spawned: %d, want 204", resp.StatusCode)
	}
	if resp, _ := e.api("DELETE", "/hub/api/users/alice/server", bob, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob stopping alice: %d, want 404", resp.StatusCode)
	}
	carol := e.apiToken("carol", TokenUser, 0, time.Time{})
	if resp, _ := e.api("DELETE", "/hub/api/users/nobody/server", carol, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("admin stopping an unknown user's server: %d, want 404", resp.StatusCode)
	}
	if resp, _ := e.api("POST", "/hub/api/users/nobody/server", carol, "{}"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("admin starting an unknown user's server: %d, want 404", resp.StatusCode)
	}
}

// readEvents reads a progress stream to its end.
func readEvents(t *testing.T, resp *http.Response) (events []map[string]any, keepalives int) {
	t.Helper()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "data: "):
			var v map[string]any
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &v); err != nil {
				t.Fatalf("event %q: %v", line, err)
			}
			events = append(events, v)
		case strings.HasPrefix(line, ":"):
			keepalives++
		case line == "":
		default:
			t.Errorf("unexpected line %q in the stream", line)
		}
	}
	return events, keepalives
}

func (e *env) stream(token, user string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.url("/hub/api/users/"+user+"/server/progress"), nil)
	req.Header.Set("Authorization", "token "+token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestProgressStream(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	e.serverIs(queued("alice", now))
	events := make(chan gateway.Progress, 8)
	unsubscribed := make(chan struct{})
	e.hub.SubscribeFn = func(user, server string) (<-chan gateway.Progress, func()) {
		return events, func() { close(unsubscribed) }
	}
	events <- gateway.Progress{State: gateway.StateQueued, Progress: 30, Message: "Queued", Reason: "Priority", JobID: "4242", QueuedSeconds: 180}
	events <- gateway.Progress{State: gateway.StateStarting, Progress: 70, Message: "Running on c1", JobID: "4242", Node: "c1"}
	events <- gateway.Progress{State: gateway.StateReady, Ready: true, Progress: 100, JobID: "4242", Node: "c1"}
	alice := e.apiToken("alice", TokenUser, 0, time.Time{})
	resp := e.stream(alice, "alice")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("progress: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	}
	got, _ := readEvents(t, resp)
	if len(got) != 4 {
		t.Fatalf("%d events, want 4: %v", len(got), got)
	}
	if got[0]["progress"] != float64(0) || got[0]["message"] != "Server requested" || len(got[0]) != 2 {
		t.Errorf("first event %v", got[0])
	}
	if got[1]["state"] != "queued" || got[1]["reason"] != "Priority" || got[1]["reason_text"] != "other jobs have priority" {
		t.Errorf("queued event %v", got[1])
	}
	if got[2]["node"] != "c1" || got[2]["progress"] != float64(70) {
		t.Errorf("starting event %v", got[2])
	}
	last := got[3]
	if last["progress"] != float64(100) || last["ready"] != true || last["url"] != "/user/alice/" ||
		last["message"] != "Server ready at /user/alice/" || last["html_message"] != `Server ready at <a href="/user/alice/">/user/alice/</a>` {
		t.Errorf("ready event %v", last)
	}
	select {
	case <-unsubscribed:
	case <-time.After(5 * time.Second):
		t.Error("the stream did not unsubscribe after the ready event")
	}
}

func TestProgressStreamFailed(t *testing.T) {
	e := newEnv(t)
	e.serverIs(queued("alice", e.clock.Now()))
	events := make(chan gateway.Progress, 2)
	events <- gateway.Progress{State: gateway.StateFailed, Failed: true, Reason: "sbatch: error: invalid partition specified: gpu", LogTail: "line 1\nline 2"}
	e.hub.SubscribeFn = func(string, string) (<-chan gateway.Progress, func()) { return events, func() {} }
	alice := e.apiToken("alice", TokenUser, 0, time.Time{})
	got, _ := readEvents(t, e.stream(alice, "alice"))
	last := got[len(got)-1]
	if last["failed"] != true || last["progress"] != float64(100) ||
		last["message"] != "Spawn failed: sbatch: error: invalid partition specified: gpu" || last["log_tail"] != "line 1\nline 2" {
		t.Errorf("failed event %v", last)
	}
}

func TestProgressStreamKeepalive(t *testing.T) {
	e := newEnv(t)
	e.srv.keepAlive = 20 * time.Millisecond
	e.serverIs(queued("alice", e.clock.Now()))
	events := make(chan gateway.Progress)
	e.hub.SubscribeFn = func(string, string) (<-chan gateway.Progress, func()) { return events, func() {} }
	go func() {
		time.Sleep(200 * time.Millisecond)
		events <- gateway.Progress{Stopped: true, State: gateway.StateStopped, Message: "cancelled by alice"}
	}()
	alice := e.apiToken("alice", TokenUser, 0, time.Time{})
	got, keepalives := readEvents(t, e.stream(alice, "alice"))
	if keepalives < 2 {
		t.Errorf("%d keepalives in 200ms at a 20ms interval", keepalives)
	}
	if last := got[len(got)-1]; last["failed"] != true || !strings.Contains(last["message"].(string), "stopped") {
		t.Errorf("stopped event %v", last)
	}
}

func TestProgressStreamStates(t *testing.T) {
	e := newEnv(t)
	alice := e.apiToken("alice", TokenUser, 0, time.Time{})
	bob := e.apiToken("bob", TokenUser, 0, time.Time{})

	// Already ready: just the ready event.
	e.serverIs(ready("alice", e.clock.Now()))
	got, _ := readEvents(t, e.stream(alice, "alice"))
	if len(got) != 1 || got[0]["ready"] != true {
		t.Errorf("ready server: %v, want only the ready event", got)
	}
	// Stopped: nothing is starting, 400.
	s := ready("alice", e.clock.Now())
	s.State = gateway.StateStopped
	e.serverIs(s)
	if resp := e.stream(alice, "alice"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("stopped server: %d, want 400", resp.StatusCode)
	}
	if resp := e.stream(bob, "alice"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob on alice's progress: %d, want 404", resp.StatusCode)
	}
	if resp := e.stream(bob, "bob"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("never spawned: %d, want 404", resp.StatusCode)
	}
}

// storeServer records user's default server in state (queued or ready) in
// the store, as the hub would have.
func (e *env) storeServer(user string, state gateway.ServerState) {
	e.t.Helper()
	ctx := context.Background()
	sv, err := e.store.StartServer(ctx, gateway.NewServer{User: user, Cluster: "local", Profile: "small", JobName: "hpcgate-" + user + "--test"})
	if err != nil {
		e.t.Fatal(err)
	}
	path := []gateway.ServerState{gateway.StateSubmitting, gateway.StateQueued, gateway.StateReady}
	for i := 1; i < len(path) && path[i-1] != state; i++ {
		if ok, err := e.store.SetState(ctx, sv.ID, []gateway.ServerState{path[i-1]}, path[i], ""); err != nil || !ok {
			e.t.Fatalf("set %s's server %s: %v", user, path[i], err)
		}
	}
}
