package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"hpcgate/gateway"
)

// TestRESTNamedServersDisabled: with named_servers off every named-server
// route answers JupyterHub's 400, and nothing reaches the hub.
func TestRESTNamedServersDisabled(t *testing.T) {
	e := newEnv(t)
	alice := e.apiToken("alice", TokenUser, 0, time.Time{})
	for _, r := range []struct{ method, path string }{
		{"POST", "/hub/api/users/alice/servers/gpu"},
		{"DELETE", "/hub/api/users/alice/servers/gpu"},
		{"GET", "/hub/api/users/alice/servers/gpu/progress"},
	} {
		resp, body := e.api(r.method, r.path, alice, "")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Named servers are not enabled.") {
			t.Errorf("%s %s with named servers off: %d %s", r.method, r.path, resp.StatusCode, body)
		}
	}
}

// TestRESTNamedServers: start, see, stop and remove a named server beside
// the default one, in JupyterHub 3.0's codes and words.
func TestRESTNamedServers(t *testing.T) {
	e := newEnv(t, withNamedServers(2))
	now := e.clock.Now()
	alice := e.apiToken("alice", TokenUser, 0, time.Time{})
	e.serverIs(ready("alice", now))
	var spawned []gateway.SpawnRequest
	e.hub.SpawnFn = func(_ context.Context, req gateway.SpawnRequest) (*gateway.ServerInfo, error) {
		spawned = append(spawned, req)
		if req.Server == "third" {
			return nil, gateway.Errorf(gateway.EINVALID, "User alice already has the maximum of 2 named servers.  One must be deleted before a new server can be created")
		}
		return named(queued(req.User, now), req.Server), nil
	}
	resp, body := e.api("POST", "/hub/api/users/alice/servers/gpu", alice, `{"profile": "gpu", "gpus": 1}`)
	if resp.StatusCode != http.StatusAccepted || len(spawned) != 1 {
		t.Fatalf("start gpu: %d %s (spawns %d)", resp.StatusCode, body, len(spawned))
	}
	if r := spawned[0]; r.User != "alice" || r.Server != "gpu" || r.Profile != "gpu" || r.Options["gpus"] != "1" {
		t.Errorf("spawn request %+v", r)
	}
	resp, body = e.api("POST", "/hub/api/users/alice/servers/third", alice, `{}`)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "already has the maximum of 2 named servers") {
		t.Errorf("over the limit: %d %s", resp.StatusCode, body)
	}
	resp, body = e.api("POST", "/hub/api/users/alice/servers/.hidden", alice, `{}`)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Invalid server_name") {
		t.Errorf("bad name: %d %s", resp.StatusCode, body)
	}

	// While it waits in the queue: a second start is JupyterHub's 202.
	gpu := named(queued("alice", now), "gpu")
	e.serverIs(ready("alice", now), gpu)
	spawned = nil
	if resp, _ := e.api("POST", "/hub/api/users/alice/servers/gpu", alice, `{}`); resp.StatusCode != http.StatusAccepted || len(spawned) != 0 {
		t.Errorf("start while pending: %d, %d spawns; want 202 and none", resp.StatusCode, len(spawned))
	}
	gpu.State = gateway.StateReady
	resp, body = e.api("POST", "/hub/api/users/alice/servers/gpu", alice, `{}`)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "alice:gpu is already running") {
		t.Errorf("start while running: %d %s", resp.StatusCode, body)
	}

	// The user model: servers keyed by name, each at its own URL.
	_, body = e.api("GET", "/hub/api/users/alice", alice, "")
	var m struct {
		Server  *string
		Servers map[string]struct {
			Name, URL   string
			ProgressURL string `json:"progress_url"`
			Ready       bool
		}
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	if g := m.Servers["gpu"]; g.Name != "gpu" || g.URL != "/user/alice/gpu/" || g.ProgressURL != "/hub/api/users/alice/servers/gpu/progress" || !g.Ready {
		t.Errorf("servers[gpu] = %+v", g)
	}
	if d, ok := m.Servers[""]; !ok || d.URL != "/user/alice/" || m.Server == nil || *m.Server != "/user/alice/" {
		t.Errorf("default server in the model: %+v, server %v", d, m.Server)
	}

	// Stop the named server only.
	var stopped []string
	e.hub.StopFn = func(_ context.Context, user, server, _ string) error {
		stopped = append(stopped, user+"/"+server)
		gpu.State = gateway.StateStopping
		return nil
	}
	if resp, body := e.api("DELETE", "/hub/api/users/alice/servers/gpu", alice, ""); resp.StatusCode != http.StatusAccepted || len(stopped) != 1 || stopped[0] != "alice/gpu" {
		t.Errorf("stop gpu: %d %s, stops %v", resp.StatusCode, body, stopped)
	}
	resp, body = e.api("DELETE", "/hub/api/users/alice/servers/cpu", alice, "")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "alice has no server named 'cpu'") {
		t.Errorf("stop an unknown named server: %d %s", resp.StatusCode, body)
	}
	resp, body = e.api("DELETE", "/hub/api/users/alice/server", alice, `{"remove": true}`)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Cannot delete the default server") {
		t.Errorf("remove the default server: %d %s", resp.StatusCode, body)
	}
	// Remove: the hub deletes it (here at once: it is stopped).
	gpu.State = gateway.StateStopped
	var removed []string
	e.hub.RemoveServerFn = func(_ context.Context, user, server, _ string) error {
		removed = append(removed, user+"/"+server)
		e.serverIs(ready("alice", now))
		return nil
	}
	if resp, body := e.api("DELETE", "/hub/api/users/alice/servers/gpu", alice, `{"remove": true}`); resp.StatusCode != http.StatusNoContent || len(removed) != 1 {
		t.Errorf("remove gpu: %d %s, removed %v", resp.StatusCode, body, removed)
	}
	if resp, _ := e.api("GET", "/hub/api/users/alice/servers/gpu/progress", alice, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("progress of a removed server: %d, want 404", resp.StatusCode)
	}
}

// TestRESTNamedServerScopes: a token for one named server acts on that
// server only (servers!server=alice/gpu).
func TestRESTNamedServerScopes(t *testing.T) {
	e := newEnv(t, withNamedServers(0))
	now := e.clock.Now()
	e.serverIs(ready("alice", now), named(ready("alice", now), "gpu"))
	e.hub.StopFn = func(context.Context, string, string, string) error { return nil }
	ctx := context.Background()
	if _, err := e.store.EnsureUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	tok, _, err := e.store.NewToken(ctx, gateway.TokenSpec{User: "alice", Kind: gateway.TokenAPI, Scopes: []string{"servers!server=alice/gpu"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := e.api("DELETE", "/hub/api/users/alice/servers/gpu", tok, ""); resp.StatusCode != http.StatusAccepted {
		t.Errorf("stop gpu with servers!server=alice/gpu: %d %s", resp.StatusCode, body)
	}
	for _, p := range []string{"/hub/api/users/alice/server", "/hub/api/users/alice/servers/cpu"} {
		if resp, _ := e.api("DELETE", p, tok, ""); resp.StatusCode/100 == 2 {
			t.Errorf("DELETE %s with servers!server=alice/gpu: %d, want refused", p, resp.StatusCode)
		}
	}
}

// TestProxyNamedServers: /user/alice/gpu/… goes to the named server while
// it has a route, to the default server otherwise; access is judged on the
// server the request goes to.
func TestProxyNamedServers(t *testing.T) {
	e := newEnv(t, withNamedServers(0))
	now := e.clock.Now()
	e.serverIs(ready("alice", now), named(ready("alice", now), "gpu"))
	var got []string
	e.hub.ServeProxyFn = func(w http.ResponseWriter, r *http.Request, user, server string) {
		got = append(got, user+"/"+server+" "+r.URL.Path)
		w.WriteHeader(http.StatusOK)
	}
	e.hub.Routes = map[string]bool{"alice/": true, "alice/gpu": true}
	b := e.browser()
	b.login("alice", "alice-pass")
	for _, p := range []string{"/user/alice/gpu/api/status", "/user/alice/gpu", "/user/alice/tree/gpu/", "/user/alice/cpu/x"} {
		if resp, _ := b.get(p); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
	want := []string{"alice/gpu /user/alice/gpu/api/status", "alice/gpu /user/alice/gpu", "alice/ /user/alice/tree/gpu/", "alice/ /user/alice/cpu/x"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("proxied\n%v\nwant\n%v", got, want)
	}
	// Without its route (stopped) gpu/… is a path of the default server.
	e.hub.Routes = map[string]bool{"alice/": true}
	got = nil
	b.get("/user/alice/gpu/tree")
	if len(got) != 1 || got[0] != "alice/ /user/alice/gpu/tree" {
		t.Errorf("gpu without a route went to %v", got)
	}

	// A token for the named server opens it and not the default one.
	e.hub.Routes = map[string]bool{"alice/": true, "alice/gpu": true}
	tok, _, err := e.store.NewToken(context.Background(), gateway.TokenSpec{User: "alice", Kind: gateway.TokenAPI, Scopes: []string{"access:servers!server=alice/gpu"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := e.api("GET", "/user/alice/gpu/api/status", tok, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("gpu with its own access scope: %d", resp.StatusCode)
	}
	if resp, _ := e.api("GET", "/user/alice/api/status", tok, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("default server with gpu's access scope: %d, want 403", resp.StatusCode)
	}
	bob := e.browser()
	bob.login("bob", "bob-pass")
	if resp, _ := bob.get("/user/alice/gpu/tree"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob on alice's gpu: %d, want 403", resp.StatusCode)
	}
}

// TestOAuthNamedServer: a named server's OAuth client is
// jupyterhub-user-<name>-<server>, told apart from a user whose name has a
// dash by the redirect_uri; its code is swapped only with its own token.
func TestOAuthNamedServer(t *testing.T) {
	e := newEnv(t, withNamedServers(0))
	ctx := context.Background()
	if _, err := e.store.EnsureUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	srv, err := e.store.StartServer(ctx, gateway.NewServer{User: "alice", Name: "gpu", Cluster: "local", Profile: "gpu", JobName: "hpcgate-alice-gpu-1"})
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := e.store.NewToken(ctx, gateway.TokenSpec{User: "alice", Kind: gateway.TokenServer, ServerID: srv.ID, Scopes: gateway.ServerScopes("alice", "gpu")})
	if err != nil {
		t.Fatal(err)
	}
	defaultSecret := e.serverToken("alice")
	const client, callback = "jupyterhub-user-alice-gpu", "/user/alice/gpu/oauth_callback"
	authz := func(b *browser, redirect string) *http.Response {
		q := url.Values{"client_id": {client}, "redirect_uri": {redirect}, "response_type": {"code"}, "state": {"s"}}
		resp, _ := b.get("/hub/api/oauth2/authorize?" + q.Encode())
		return resp
	}
	b := e.browser()
	b.login("alice", "alice-pass")
	if resp := authz(b, "/user/alice/oauth_callback"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("named client with the default server's callback: %d, want 400", resp.StatusCode)
	}
	resp := authz(b, callback)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Path != callback {
		t.Fatalf("authorize named client: %d to %s", resp.StatusCode, loc)
	}
	code := loc.Query().Get("code")
	if r, _ := e.exchange(client, defaultSecret, code, callback); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the default server's token as gpu's client secret: %d, want 401", r.StatusCode)
	}
	// The failed exchange did not consume the code.
	r, v := e.exchange(client, secret, code, callback)
	if r.StatusCode != http.StatusOK || v["scope"] != "access:servers!server=alice/gpu access:servers!user=alice" {
		t.Errorf("exchange: %d %v", r.StatusCode, v)
	}
	bob := e.browser()
	bob.login("bob", "bob-pass")
	if resp := authz(bob, callback); resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob authorizing alice's gpu: %d, want 403", resp.StatusCode)
	}
}

// TestNamedServerPages: the home page shows each server with its own
// stop and open links and a field to name a new one, which leads to that
// server's spawn form; a stop form stops that server only.
func TestNamedServerPages(t *testing.T) {
	e := newEnv(t, withNamedServers(0))
	now := e.clock.Now()
	e.serverIs(ready("alice", now), named(ready("alice", now), "gpu"))
	var stopped []string
	e.hub.StopFn = func(_ context.Context, user, server, _ string) error {
		stopped = append(stopped, user+"/"+server)
		return nil
	}
	b := e.browser()
	b.login("alice", "alice-pass")
	_, body := b.get("/hub/home")
	for _, want := range []string{`action="/hub/stop/alice/gpu"`, `action="/hub/stop/alice"`, `href="/user/alice/gpu/"`, `href="/user/alice/"`, `data-new-named-server`} {
		if !strings.Contains(body, want) {
			t.Errorf("home page lacks %s", want)
		}
	}
	resp, _ := b.get("/hub/spawn?server_name=cpu")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "/hub/spawn/alice/cpu" {
		t.Errorf("new named server field: %d to %q", resp.StatusCode, loc)
	}
	resp, body = b.get("/hub/spawn/alice/cpu")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="/hub/spawn/alice/cpu"`) {
		t.Errorf("spawn form of cpu: %d", resp.StatusCode)
	}
	xsrf := b.xsrf("/hub/home")
	b.post("/hub/stop/alice/gpu", url.Values{"_xsrf": {xsrf}})
	if len(stopped) != 1 || stopped[0] != "alice/gpu" {
		t.Errorf("stop form stopped %v, want alice/gpu", stopped)
	}
}
