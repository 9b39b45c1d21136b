package web

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"hpcgate/gateway"
)

func TestAPIVersion(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/hub/api", "/hub/api/"} {
		resp, body := e.api("GET", path, "", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		var v map[string]string
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
		if v["version"] != "3.0.0" || v["hpcgate"] != "1.2.3-test" || len(v) != 2 {
			t.Errorf("GET %s = %v, want version 3.0.0 and hpcgate 1.2.3-test", path, v)
		}
	}
	// Every response of the hub carries the version, errors and pages too.
	b := e.browser()
	for _, path := range []string{"/hub/api", "/hub/login", "/hub/home", "/hub/nope", "/hub/api/user", "/hub/health", "/user/alice/"} {
		resp, _ := b.get(path)
		if got := resp.Header.Get("X-JupyterHub-Version"); got != "3.0.0" {
			t.Errorf("GET %s (%d): X-JupyterHub-Version %q, want 3.0.0", path, resp.StatusCode, got)
		}
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	resp, body := e.api("GET", "/hub/health", "", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"db":"ok"`) {
		t.Errorf("health: %d %s", resp.StatusCode, body)
	}
	e.store.Close()
	if resp, _ := e.api("GET", "/hub/health", "", ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("health with the database closed: %d, want 503", resp.StatusCode)
	}
}

type selfModel struct {
	Kind      string                  `json:"kind"`
	Name      string                  `json:"name"`
	Admin     bool                    `json:"admin"`
	Groups    []string                `json:"groups"`
	Server    *string                 `json:"server"`
	Pending   *string                 `json:"pending"`
	Scopes    []string                `json:"scopes"`
	SessionID *string                 `json:"session_id"`
	Servers   map[string]*serverModel `json:"servers"`
}

func TestAPIUserModel(t *testing.T) {
	e := newEnv(t)
	e.serverIs(ready("alice", e.clock.Now()))
	server := e.serverToken("alice")
	api := e.apiToken("alice", TokenUser, 0, time.Time{})

	tests := []struct {
		name   string
		header string
		query  string
		scopes []string
		absent []string
		// full: the token may read the whole user model; a server's
		// token gets what JupyterHub 3.0 gives it (name, admin, groups,
		// activity).
		full bool
	}{
		{"server token", "token " + server, "",
			[]string{"access:servers!server=alice/", "users:activity!user=alice", "read:users:name!user=alice", "read:users:groups!user=alice"},
			[]string{"servers!user=alice", "access:servers", "access:servers!user=alice", "read:users!user=alice", "tokens!user=alice"}, false},
		{"api token, Bearer", "Bearer " + api, "",
			[]string{"access:servers!user=alice", "servers!user=alice", "tokens!user=alice"},
			[]string{"access:servers", "admin:users"}, true},
		{"api token, lower case scheme", "token  " + api, "", []string{"access:servers!user=alice"}, nil, true},
		{"api token, BEARER", "BEARER " + api, "", []string{"access:servers!user=alice"}, nil, true},
		{"token in the query", "", "?token=" + api, []string{"access:servers!user=alice"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.browser()
			h := http.Header{"Accept": {"application/json"}}
			if tt.header != "" {
				h.Set("Authorization", tt.header)
			}
			resp, body := b.do("GET", "/hub/api/user"+tt.query, nil, h)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var m selfModel
			if err := json.Unmarshal([]byte(body), &m); err != nil {
				t.Fatal(err)
			}
			if m.Kind != "user" || m.Name != "alice" || m.Admin || !slices.Equal(m.Groups, []string{"hpc-users", "gpu-users"}) {
				t.Errorf("model %+v", m)
			}
			switch {
			case !tt.full && (m.Server != nil || m.Servers != nil):
				t.Errorf("server %v servers %v, want neither for a token without read:users/read:servers", m.Server, m.Servers)
			case !tt.full:
			case m.Server == nil || *m.Server != "/user/alice/" || m.Pending != nil:
				t.Errorf("server %v pending %v, want /user/alice/ and null", m.Server, m.Pending)
			default:
				if s := m.Servers[""]; s == nil || !s.Ready || s.HPCGate == nil || s.HPCGate.Node != "c1" || s.HPCGate.JobID != "4242" {
					t.Errorf("servers[\"\"] = %+v", s)
				}
			}
			for _, sc := range tt.scopes {
				if !slices.Contains(m.Scopes, sc) {
					t.Errorf("scopes %v lack %s", m.Scopes, sc)
				}
			}
			for _, sc := range tt.absent {
				if slices.Contains(m.Scopes, sc) {
					t.Errorf("scopes %v have %s", m.Scopes, sc)
				}
			}
			if !strings.Contains(body, `"session_id":null`) {
				t.Errorf("session_id is not null for a token without a session: %s", body)
			}
		})
	}
}

func TestAPIUserBadTokenIs403(t *testing.T) {
	e := newEnv(t)
	expired := e.apiToken("alice", TokenUser, 0, e.clock.Now().Add(time.Hour))
	e.clock.Add(2 * time.Hour)
	tests := map[string]http.Header{
		"unknown token":    {"Authorization": {"token 0123456789abcdef"}},
		"expired token":    {"Authorization": {"token " + expired}},
		"no credentials":   {},
		"empty token":      {"Authorization": {"token "}},
		"other scheme":     {"Authorization": {"Basic YWxpY2U6YWxpY2UtcGFzcw=="}},
		"unknown as query": {},
	}
	for name, h := range tests {
		t.Run(name, func(t *testing.T) {
			path := "/hub/api/user"
			if name == "unknown as query" {
				path += "?token=nope"
			}
			h.Set("Accept", "application/json")
			resp, body := e.browser().do("GET", path, nil, h)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want exactly 403", resp.StatusCode)
			}
			var v apiError
			if err := json.Unmarshal([]byte(body), &v); err != nil || v.Status != 403 || v.Message == "" {
				t.Errorf("body %s, want {\"status\":403,\"message\":...}", body)
			}
		})
	}
}

func TestAPIUserAdminAccessScope(t *testing.T) {
	for _, on := range []bool{false, true} {
		var opts []envOption
		if on {
			opts = append(opts, withAdminAccess())
		}
		e := newEnv(t, opts...)
		tok := e.apiToken("carol", TokenUser, 0, time.Time{})
		_, body := e.api("GET", "/hub/api/user", tok, "")
		var m selfModel
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		if !m.Admin {
			t.Errorf("carol is not admin in %s", body)
		}
		if got := slices.Contains(m.Scopes, "access:servers"); got != on {
			t.Errorf("admin_access=%v: unfiltered access:servers in scopes = %v", on, got)
		}
	}
}

func TestActivity(t *testing.T) {
	e := newEnv(t)
	e.serverIs(ready("alice", e.clock.Now()))
	var got []time.Time
	e.hub.RecordActivityFn = func(_ context.Context, user, server string, t0 time.Time) error {
		if user != "alice" || server != "" {
			t.Errorf("activity recorded for %s/%q", user, server)
		}
		got = append(got, t0)
		return nil
	}
	server := e.serverToken("alice")
	bobs := e.serverToken("bob")
	now := e.clock.Now()
	stamp := func(d time.Duration) string { return now.Add(d).UTC().Format("2006-01-02T15:04:05.000000") + "Z" }

	tests := []struct {
		name, token, body string
		status            int
	}{
		{"singleuser report", server, `{"servers": {"": {"last_activity": "` + stamp(-time.Minute) + `"}}, "last_activity": "` + stamp(-time.Minute) + `"}`, 200},
		{"only the user's time", server, `{"last_activity": "` + stamp(-2*time.Minute) + `"}`, 200},
		{"naive time is UTC", server, `{"servers": {"": {"last_activity": "` + now.Add(-3*time.Minute).Format("2006-01-02T15:04:05.000000") + `"}}}`, 200},
		{"unknown server", server, `{"servers": {"lab": {"last_activity": "` + stamp(0) + `"}}}`, 400},
		{"an hour ahead", server, `{"servers": {"": {"last_activity": "` + stamp(time.Hour) + `"}}}`, 400},
		{"not a time", server, `{"servers": {"": {"last_activity": "yesterday"}}}`, 400},
		{"bad JSON", server, `{"servers": `, 400},
		{"bob's token for alice", bobs, `{"last_activity": "` + stamp(0) + `"}`, 404},
		{"no token", "", `{"last_activity": "` + stamp(0) + `"}`, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.api("POST", "/hub/api/users/alice/activity", tt.token, tt.body)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
		})
	}
	want := []time.Time{now.Add(-time.Minute), now.Add(-2 * time.Minute), now.Add(-3 * time.Minute)}
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("recorded %v, want %v", got, want)
	}
}

func TestNodeTokensCannotDriveTheAPI(t *testing.T) {
	e := newEnv(t)
	e.serverIs(ready("alice", e.clock.Now()))
	e.hub.StopFn = func(context.Context, string, string, string) error {
		t.Error("a server token stopped the server")
		return nil
	}
	server := e.serverToken("alice")
	for _, c := range []struct{ method, path string }{
		{"DELETE", "/hub/api/users/alice/server"},
		{"POST", "/hub/api/users/alice/tokens"},
		{"GET", "/hub/api/users/alice/tokens"},
	} {
		if resp, _ := e.api(c.method, c.path, server, "{}"); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s with the server's token: %d, want 403", c.method, c.path, resp.StatusCode)
		}
	}
	if resp, _ := e.api("GET", "/hub/api/user", server, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /hub/api/user with the server's token: %d", resp.StatusCode)
	}
}

func TestPanicIs500(t *testing.T) {
	e := newEnv(t)
	e.hub.ServerFn = func(context.Context, string, string) (*gateway.ServerInfo, error) { panic("boom") }
	tok := e.apiToken("alice", TokenUser, 0, time.Time{})
	resp, body := e.api("GET", "/hub/api/users/alice", tok, "")
	if resp.StatusCode != http.StatusInternalServerError || body != `{"status":500,"message":"internal error"}` {
		t.Errorf("panicking hub: %d %s", resp.StatusCode, body)
	}
	// The server goes on.
	if resp, _ := e.api("GET", "/hub/api", "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("after a panic: %d", resp.StatusCode)
	}
}
