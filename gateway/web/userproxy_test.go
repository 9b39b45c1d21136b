package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
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
		{"bob", "/hub/user/bob/lab", http.StatusFound, "/hub/spawn-pending/bob", ""},
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
