package web

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"hpcgate/gateway"
)

// TestLimitedToken: a user's token made with explicit scopes
// (hpcgate token -scopes read:metrics) acts as nothing else: not on the
// REST API, not on the user's server.
func TestLimitedToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.store.EnsureUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	limited, _, err := e.store.NewToken(ctx, gateway.TokenSpec{User: "alice", Kind: gateway.TokenAPI, Scopes: []string{"read:metrics"}})
	if err != nil {
		t.Fatal(err)
	}
	full := e.apiToken("alice", gateway.TokenAPI, 0, e.clock.Now().Add(0).AddDate(1, 0, 0))
	e.serverIs(ready("alice", e.clock.Now()))
	for _, path := range []string{"/hub/api/users/alice", "/user/alice/api/status"} {
		if resp, body := e.api("GET", path, limited, ""); resp.StatusCode != http.StatusForbidden {
			t.Errorf("limited token GET %s: %d %s, want 403", path, resp.StatusCode, body)
		}
		if resp, body := e.api("GET", path, full, ""); resp.StatusCode == http.StatusForbidden {
			t.Errorf("alice's full token GET %s: 403 %s", path, body)
		}
	}
}

func TestScopeExpansionAndIntersection(t *testing.T) {
	alice := expandScopes([]string{"self"}, "alice")
	tests := []struct {
		name      string
		set       scopeSet
		has, lack []string
	}{
		{"self is the user's own rights", alice,
			[]string{"access:servers!user=alice", "servers!user=alice", "read:tokens!user=alice", "read:users:name!user=alice"},
			[]string{"access:servers", "list:users", "access:servers!user=bob"}},
		{"subscopes keep the filter", expandScopes([]string{"users!user=bob"}, "alice"),
			[]string{"users:activity!user=bob", "read:users:activity!user=bob", "read:users:name!user=bob", "list:users!user=bob"},
			[]string{"users:activity!user=alice"}},
		{"bare !user is the owner", expandScopes([]string{"users:activity!user"}, "alice"),
			[]string{"users:activity!user=alice"}, []string{"users:activity"}},
		{"reading a server reads its owner's name", expandScopes([]string{"read:servers!server=bob/"}, "alice"),
			[]string{"read:servers!server=bob/", "read:users:name!user=bob"}, nil},
		{"a server filter within a user filter stays",
			expandScopes([]string{"access:servers!server=alice/"}, "alice").intersect(alice),
			[]string{"access:servers!server=alice/"}, []string{"access:servers!user=alice"}},
		{"another user's server is not within alice's rights",
			expandScopes([]string{"access:servers!server=bob/"}, "alice").intersect(alice),
			nil, []string{"access:servers!server=bob/"}},
		{"unfiltered on one side keeps the other's filter",
			expandScopes([]string{"access:servers!server=alice/"}, "carol").intersect(expandScopes([]string{"access:servers"}, "carol")),
			[]string{"access:servers!server=alice/"}, []string{"access:servers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.set.strings()
			for _, s := range tt.has {
				if !slices.Contains(got, s) {
					t.Errorf("%v lacks %s", got, s)
				}
			}
			for _, s := range tt.lack {
				if slices.Contains(got, s) {
					t.Errorf("%v has %s", got, s)
				}
			}
		})
	}
	set := expandScopes([]string{"access:servers!server=alice/", "access:servers!user=bob"}, "x")
	for _, c := range []struct {
		user string
		ok   bool
	}{{"alice", true}, {"bob", true}, {"carol", false}} {
		if got := set.allowsServer("access:servers", c.user, ""); got != c.ok {
			t.Errorf("allowsServer(access:servers, %s/) = %v, want %v", c.user, got, c.ok)
		}
	}
	if set.allowsServer("access:servers", "alice", "lab") {
		t.Error("access:servers!server=alice/ opens alice/lab")
	}
}

// TestAdminOAuthTokenConfined: an OAuth token is judged by its scopes,
// not by its owner's rights. carol is an admin with admin_access; the
// token her own server got for her opens her server only, and the one
// alice's server got for her opens alice's server only; neither reaches
// the REST API as carol.
func TestAdminOAuthTokenConfined(t *testing.T) {
	e := newEnv(t, withAdminAccess(), withMetrics(gateway.NewMetrics()))
	now := e.clock.Now()
	e.serverIs(ready("alice", now), ready("bob", now), ready("carol", now))
	e.hub.ServeProxyFn = func(w http.ResponseWriter, _ *http.Request, user, _ string) { w.Write([]byte(user)) }
	carol := e.browser()
	carol.login("carol", "carol-pass")
	secrets := map[string]string{"alice": e.serverToken("alice"), "carol": e.serverToken("carol")}
	tokens := map[string]string{}
	for _, owner := range []string{"alice", "carol"} {
		code := authorize(t, carol, owner, "st")
		resp, v := e.exchange("jupyterhub-user-"+owner, secrets[owner], code, "/user/"+owner+"/oauth_callback")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("exchange for %s's server: %d %v", owner, resp.StatusCode, v)
		}
		tokens[owner] = v["access_token"].(string)
	}
	tests := []struct {
		token, method, path string
		status              int
	}{
		{"carol", "GET", "/user/carol/api/contents", 200},
		{"carol", "GET", "/user/bob/api/contents", 403},
		{"carol", "GET", "/user/alice/api/contents", 403},
		{"alice", "GET", "/user/alice/api/contents", 200},
		{"alice", "GET", "/user/bob/api/contents", 403},
		{"alice", "GET", "/hub/api/users", 403},
		{"alice", "GET", "/hub/api/users/alice", 403},
		{"alice", "POST", "/hub/api/users/alice/tokens", 403},
		{"alice", "POST", "/hub/api/users/carol/tokens", 403},
		{"alice", "DELETE", "/hub/api/users/bob/server", 403},
		{"alice", "POST", "/hub/api/users/alice/activity", 403},
		{"alice", "GET", "/hub/metrics", 403},
	}
	for _, tt := range tests {
		resp, body := e.api(tt.method, tt.path, tokens[tt.token], "")
		if resp.StatusCode != tt.status {
			t.Errorf("carol's OAuth token for %s's server: %s %s: %d, want %d\n%s", tt.token, tt.method, tt.path, resp.StatusCode, tt.status, body)
		}
	}
	// It identifies carol, with the one server's access, as JupyterHub's
	// /hub/api/user does.
	resp, body := e.api("GET", "/hub/api/user", tokens["alice"], "")
	var m struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/hub/api/user: %d %s", resp.StatusCode, body)
	}
	want := []string{"access:servers!server=alice/", "read:users:groups!user=carol", "read:users:name!user=carol"}
	if m.Name != "carol" || !slices.Equal(m.Scopes, want) {
		t.Errorf("/hub/api/user: %s %v, want carol %v", m.Name, m.Scopes, want)
	}
}
