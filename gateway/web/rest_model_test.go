package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"testing"
	"time"

	"hpcgate/gateway"
)

func keysOf(t *testing.T, body string) (map[string]json.RawMessage, []string) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return m, keys
}

// The user and server models have JupyterHub 3.0's keys, as the caller's
// scopes allow, and hpcgate's fields only under "hpcgate".
func TestRESTModelKeys(t *testing.T) {
	e := newEnv(t)
	e.serverIs(ready("alice", e.clock.Now()))
	alice := e.apiToken("alice", TokenUser, 0, time.Time{})
	carol := e.apiToken("carol", TokenUser, 0, time.Time{})
	userKeys := []string{"admin", "created", "groups", "kind", "last_activity", "name", "pending", "roles", "server", "servers"}
	serverKeys := []string{"hpcgate", "last_activity", "name", "pending", "progress_url", "ready", "started", "stopped", "url", "user_options"}
	tests := []struct {
		name, token  string
		user, server []string
	}{
		{"self", alice, userKeys, serverKeys},
		// Admins hold admin:auth_state and admin:server_state.
		{"admin", carol, append(slices.Clone(userKeys), "auth_state"), append(slices.Clone(serverKeys), "state")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.api("GET", "/hub/api/users/alice", tt.token, "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			m, keys := keysOf(t, body)
			sort.Strings(tt.user)
			if !slices.Equal(keys, tt.user) {
				t.Errorf("user keys %v, want %v", keys, tt.user)
			}
			var servers map[string]json.RawMessage
			json.Unmarshal(m["servers"], &servers)
			_, skeys := keysOf(t, string(servers[""]))
			sort.Strings(tt.server)
			if !slices.Equal(skeys, tt.server) {
				t.Errorf("server keys %v, want %v", skeys, tt.server)
			}
			if string(m["server"]) != `"/user/alice/"` || string(m["pending"]) != "null" {
				t.Errorf("server %s pending %s", m["server"], m["pending"])
			}
		})
	}
	// The caller's own model from /hub/api/user has session_id and scopes
	// besides; GET /users/<name> has neither.
	_, body := e.api("GET", "/hub/api/user", alice, "")
	if _, keys := keysOf(t, body); !slices.Contains(keys, "session_id") || !slices.Contains(keys, "scopes") {
		t.Errorf("/hub/api/user keys %v lack session_id or scopes", keys)
	}
}

// A stopped server leaves the user model at once; it is listed, stopped,
// with ?include_stopped_servers.
func TestRESTStoppedServersHidden(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	state := ready("alice", now)
	e.serverIs(state)
	alice := e.apiToken("alice", TokenUser, 0, time.Time{})
	carol := e.apiToken("carol", TokenUser, 0, time.Time{})
	servers := func(path, token string) map[string]map[string]any {
		t.Helper()
		resp, body := e.api("GET", path, token, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		var m struct {
			Servers map[string]map[string]any `json:"servers"`
		}
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			var list []struct {
				Name    string
				Servers map[string]map[string]any `json:"servers"`
			}
			if err := json.Unmarshal([]byte(body), &list); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			for _, u := range list {
				if u.Name == "alice" {
					return u.Servers
				}
			}
		}
		return m.Servers
	}
	if s := servers("/hub/api/users/alice", alice); s[""] == nil {
		t.Fatalf("running server not listed: %v", s)
	}
	state.State, state.Stopped = gateway.StateStopped, now
	e.serverIs(state)
	for _, path := range []string{"/hub/api/users/alice", "/hub/api/user"} {
		if s := servers(path, alice); s == nil || len(s) != 0 {
			t.Errorf("GET %s after the stop: servers %v, want {}", path, s)
		}
	}
	if s := servers("/hub/api/users", carol); len(s) != 0 {
		t.Errorf("GET /hub/api/users after the stop: alice's servers %v, want {}", s)
	}
	for _, q := range []string{"?include_stopped_servers", "?include_stopped_servers=1", "?include_stopped_servers=true"} {
		s := servers("/hub/api/users/alice"+q, alice)
		if srv := s[""]; srv == nil || srv["stopped"] != true || srv["started"] != nil || srv["pending"] != nil {
			t.Errorf("%s: servers %v, want the default server, stopped, started null", q, s)
		}
	}
	if s := servers("/hub/api/users?include_stopped_servers", carol); s[""] == nil {
		t.Errorf("GET /hub/api/users?include_stopped_servers: alice's servers %v", s)
	}
	if s := servers("/hub/api/users/alice?include_stopped_servers=0", alice); len(s) != 0 {
		t.Errorf("include_stopped_servers=0: %v", s)
	}
}
