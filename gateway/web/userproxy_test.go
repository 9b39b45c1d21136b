package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"hpcgate/gateway"
)

func TestUserProxyGate(t *testing.T) {
	e := newEnv(t)
	type hit struct{ user, server, path, auth string }
	var hits []hit
	e.hub.ServeProxyFn = func(w http.ResponseWriter, r *http.Request, user, server string) {
		hits = append(hits, hit{user, server, r.URL.RequestURI(), r.Header.Get("Authorization")})
		w.Header().Set("X-Upstream", "notebook")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("notebook of " + user))
	}
	alice := e.browser()
	alice.login("alice", "alice-pass")
	bob := e.browser()
	bob.login("bob", "bob-pass")
	aliceTok := e.apiToken("alice", TokenUser, 0, time.Time{})
	bobTok := e.apiToken("bob", TokenUser, 0, time.Time{})

	// The owner goes through, path and query intact.
	resp, body := alice.get("/user/alice/tree?foo=bar")
	if resp.StatusCode != http.StatusOK || body != "notebook of alice" || resp.Header.Get("X-Upstream") != "notebook" {
		t.Fatalf("alice on her server: %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-JupyterHub-Version") != "" {
		t.Error("the hub added its version header to a proxied response")
	}
	// The Authorization header reaches the server untouched: the
	// single-user server checks the token itself.
	resp, _ = e.api("GET", "/user/alice/api/contents", aliceTok, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("alice's token on her server: %d", resp.StatusCode)
	}
	if len(hits) != 2 || hits[1].auth != "token "+aliceTok || hits[0].path != "/user/alice/tree?foo=bar" || hits[0].user != "alice" || hits[0].server != "" {
		t.Errorf("proxied %+v", hits)
	}

	// bob, with his cookie or his token, is stopped here.
	resp, body = bob.get("/user/alice/tree")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "belongs to alice") {
		t.Errorf("bob's cookie on alice's server: %d", resp.StatusCode)
	}
	resp, body = e.api("GET", "/user/alice/api/contents", bobTok, "")
	if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(body, `{"status":403`) {
		t.Errorf("bob's token on alice's server: %d %s", resp.StatusCode, body)
	}
	// Nobody: browsers log in and come back; API clients get 403.
	resp, _ = e.browser().get("/user/alice/tree?x=1")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/hub/login?next="+url.QueryEscape("/user/alice/tree?x=1") {
		t.Errorf("anonymous browser: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = e.api("GET", "/user/alice/api/status", "", "")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous API client: %d, want 403", resp.StatusCode)
	}
	resp, _ = e.api("GET", "/user/alice/api/status", "not-a-token", "")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("API client with a bad token: %d, want 403", resp.StatusCode)
	}
	if len(hits) != 2 {
		t.Errorf("refused requests reached the proxy: %+v", hits[2:])
	}
	// /user/alice without the slash.
	resp, _ = alice.get("/user/alice")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/user/alice/" {
		t.Errorf("/user/alice: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestUserProxyAdminAccess(t *testing.T) {
	for _, on := range []bool{false, true} {
		var opts []envOption
		if on {
			opts = append(opts, withAdminAccess())
		}
		e := newEnv(t, opts...)
		e.hub.ServeProxyFn = func(w http.ResponseWriter, _ *http.Request, user, _ string) { w.Write([]byte(user)) }
		carol := e.browser()
		carol.login("carol", "carol-pass")
		resp, _ := carol.get("/user/alice/tree")
		want := http.StatusForbidden
		if on {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("admin_access=%v: admin on alice's server: %d, want %d", on, resp.StatusCode, want)
		}
	}
}

func TestHubUserRedirect(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	failed := queued("carol", now)
	failed.State, failed.Reason = "failed", "sbatch: error: Batch job submission failed: Invalid account"
	e.serverIs(ready("alice", now), queued("bob", now), failed)
	tests := []struct {
		user, path string
		status     int
		location   string
		contains   string
	}{
		{"alice", "/hub/user/alice/tree", http.StatusFound, "/user/alice/tree?redirects=1", ""},
		{"alice", "/hub/user/alice/tree?redirects=2", http.StatusServiceUnavailable, "", "cannot reach it"},
		{"bob", "/hub/user/bob/lab", http.StatusFound, "/hub/spawn-pending/bob?next=%2Fuser%2Fbob%2Flab", ""},
		{"carol", "/hub/user/carol/", http.StatusServiceUnavailable, "", "Invalid account"},
		{"bob", "/hub/user/alice/", http.StatusForbidden, "", "belongs to alice"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			b := e.browser()
			b.login(tt.user, tt.user+"-pass")
			resp, body := b.get(tt.path)
			if resp.StatusCode != tt.status || resp.Header.Get("Location") != tt.location || !strings.Contains(body, tt.contains) {
				t.Errorf("%s as %s: %d to %q, want %d to %q containing %q\n%s", tt.path, tt.user, resp.StatusCode,
					resp.Header.Get("Location"), tt.status, tt.location, tt.contains, body)
			}
		})
	}
}

// TestHubCookiesScoped: the session cookie lives on the hub's path, the
// /user/ gate has its own cookie that nothing else accepts, and neither
// opens what the other does.
func TestHubCookiesScoped(t *testing.T) {
	e := newEnv(t)
	e.serverIs(ready("alice", e.clock.Now()))
	e.hub.ServeProxyFn = func(w http.ResponseWriter, _ *http.Request, user, _ string) { w.Write([]byte(user)) }
	b := e.browser()
	tok := b.xsrf("/hub/login")
	resp, _ := b.post("/hub/login", url.Values{"_xsrf": {tok}, "username": {"alice"}, "password": {"alice-pass"}})
	paths := map[string]string{}
	for _, c := range resp.Cookies() {
		if c.MaxAge > 0 {
			paths[c.Name] = c.Path
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("cookie %s: HttpOnly=%v SameSite=%v", c.Name, c.HttpOnly, c.SameSite)
			}
		}
	}
	if paths[sessionCookie] != "/hub/" || paths[userCookie] != "/user/" {
		t.Fatalf("login set cookies on %v, want %s on /hub/ and %s on /user/", paths, sessionCookie, userCookie)
	}
	if r, body := b.get("/user/alice/tree"); r.StatusCode != 200 || body != "alice" {
		t.Fatalf("alice's browser on her server: %d %q", r.StatusCode, body)
	}
	jarValue := func(path, name string) string {
		u, _ := url.Parse(e.url(path))
		for _, c := range b.Jar.Cookies(u) {
			if c.Name == name {
				return c.Value
			}
		}
		return ""
	}
	session, gate := jarValue("/hub/", sessionCookie), jarValue("/user/", userCookie)
	if jarValue("/user/alice/", sessionCookie) != "" {
		t.Error("the browser sends the session cookie to /user/")
	}
	send := func(path, cookie string) *http.Response {
		h := http.Header{"Cookie": {cookie}, "Accept": {"application/json"}}
		r, _ := e.browser().do("GET", path, nil, h)
		return r
	}
	// The gate's cookie, under either name, opens no hub page or API.
	for _, c := range []string{userCookie + "=" + gate, sessionCookie + "=" + gate} {
		if r := send("/hub/api/user", c); r.StatusCode != http.StatusForbidden {
			t.Errorf("/hub/api/user with %.20s…: %d, want 403", c, r.StatusCode)
		}
	}
	// The session cookie does not open the gate (only its own cookie does).
	if r := send("/user/alice/api/status", sessionCookie+"="+session); r.StatusCode != http.StatusForbidden {
		t.Errorf("/user/alice/ with the session cookie: %d, want 403", r.StatusCode)
	}
	if r := send("/user/alice/api/status", userCookie+"="+session); r.StatusCode != http.StatusForbidden {
		t.Errorf("/user/alice/ with the session value under the gate's name: %d, want 403", r.StatusCode)
	}
	if r := send("/user/alice/api/status", userCookie+"="+gate); r.StatusCode != http.StatusOK {
		t.Errorf("/user/alice/ with the gate's cookie: %d, want 200", r.StatusCode)
	}
	// Logging out ends both.
	x := b.xsrf("/hub/home")
	if r, _ := b.post("/hub/logout", url.Values{"_xsrf": {x}}); r.StatusCode != http.StatusFound {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	if jarValue("/hub/", sessionCookie) != "" || jarValue("/user/", userCookie) != "" {
		t.Error("logout left a session cookie in the browser")
	}
	if r := send("/user/alice/api/status", userCookie+"="+gate); r.StatusCode != http.StatusForbidden {
		t.Errorf("/user/alice/ with the gate's cookie after logout: %d, want 403", r.StatusCode)
	}
}

// TestLegacySessionGetsGateCookie: a browser logged in before the gate had
// its own cookie (session cookie on base_url) goes from /user/ to the
// login page, which, seeing the session, gives it the gate's cookie and
// sends it back.
func TestLegacySessionGetsGateCookie(t *testing.T) {
	e := newEnv(t)
	e.serverIs(ready("alice", e.clock.Now()))
	e.hub.ServeProxyFn = func(w http.ResponseWriter, _ *http.Request, user, _ string) { w.Write([]byte(user)) }
	if _, err := e.store.UpsertUser(context.Background(), gateway.User{Name: "alice", Groups: directory["alice"].groups}); err != nil {
		t.Fatal(err)
	}
	id, err := e.store.CreateSession(context.Background(), "alice", e.clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := e.srv.keys.seal(sessionCookie, id)
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	u, _ := url.Parse(e.url("/"))
	b.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: sealed, Path: "/"}})
	resp, _ := b.get("/user/alice/tree")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/hub/login?next=") {
		t.Fatalf("/user/alice/tree with a legacy session: %d to %q, want the login page", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = b.get(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/user/alice/tree" {
		t.Fatalf("login page with a session: %d to %q, want back to /user/alice/tree", resp.StatusCode, resp.Header.Get("Location"))
	}
	if r, body := b.get("/user/alice/tree"); r.StatusCode != 200 || body != "alice" {
		t.Errorf("back on /user/alice/tree: %d %q", r.StatusCode, body)
	}
}

// TestForeignTokensDropped: an admin's hub token used on alice's server
// (admin_access) does not reach it; alice's own token and tokens the hub
// does not know pass, and the rest of the query is kept byte for byte.
func TestForeignTokensDropped(t *testing.T) {
	e := newEnv(t, withAdminAccess())
	e.serverIs(ready("alice", e.clock.Now()))
	type seen struct{ auth, query string }
	var got seen
	e.hub.ServeProxyFn = func(w http.ResponseWriter, r *http.Request, _, _ string) {
		got = seen{r.Header.Get("Authorization"), r.URL.RawQuery}
		w.Write([]byte("ok"))
	}
	carols := e.apiToken("carol", TokenUser, 0, time.Time{})
	alices := e.apiToken("alice", TokenUser, 0, time.Time{})
	tests := []struct {
		name, auth, query string
		want              seen
	}{
		{"admin's token in the header", "token " + carols, "a=1", seen{"", "a=1"}},
		{"admin's token in the query", "", "x=%2F;y&token=" + carols + "&z=2", seen{"", "x=%2F;y&z=2"}},
		{"owner's token stays", "Bearer " + alices, "token=" + alices, seen{"Bearer " + alices, "token=" + alices}},
		{"the app's own token stays", "token " + alices, "token=not-a-hub-token", seen{"token " + alices, "token=not-a-hub-token"}},
	}
	for _, tt := range tests {
		got = seen{}
		h := http.Header{"Accept": {"application/json"}}
		if tt.auth != "" {
			h.Set("Authorization", tt.auth)
		}
		resp, body := e.browser().do("GET", "/user/alice/api/contents?"+tt.query, nil, h)
		if resp.StatusCode != 200 || got != tt.want {
			t.Errorf("%s: %d %s; server saw %+v, want %+v", tt.name, resp.StatusCode, body, got, tt.want)
		}
	}
}
