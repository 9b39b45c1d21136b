package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"hpcgate/gateway"
)

// TestRESTUserManagement: an admin creates users (one, or many at once),
// grants and takes back the hub's admin right, which a login does not
// undo, cannot rename (LDAP decides names), and deletes a user: their
// server is stopped first, and their tokens die with them.
func TestRESTUserManagement(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := e.clock.Now()
	admin := e.apiToken("carol", TokenUser, 0, time.Time{})
	e.serverIs()

	resp, body := e.api("POST", "/hub/api/users", admin, `{"usernames": ["dave", "Erin", "carol"], "admin": true}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("bulk create: %d %s", resp.StatusCode, body)
	}
	var created []struct {
		Name  string
		Admin bool
		Roles []string
	}
	json.Unmarshal([]byte(body), &created)
	if len(created) != 2 || created[0].Name != "dave" || created[1].Name != "erin" || !created[0].Admin || len(created[0].Roles) != 2 {
		t.Errorf("bulk create = %s, want dave and erin (carol exists), admins", body)
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
		says               string
	}{
		{"POST", "/hub/api/users", `{"usernames": ["dave", "erin"]}`, 409, "All 2 users already exist"},
		{"POST", "/hub/api/users", `{"usernames": []}`, 400, "at least one user"},
		{"POST", "/hub/api/users", `{"usernames": ["ok", "x y", "../z"]}`, 400, `Invalid usernames: \"x y\", \"../z\"`},
		{"POST", "/hub/api/users", `{"usernames": ["ok"], "groups": ["g"]}`, 400, "user.groups cannot be set here"},
		{"POST", "/hub/api/users", `{"usernames": ["ok"], "admin": "yes"}`, 400, "user.admin has the wrong type"},
		{"POST", "/hub/api/users/dave", "", 409, "User dave already exists"},
		{"POST", "/hub/api/users/Frank", "", 400, "Invalid username"},
		{"PATCH", "/hub/api/users/nobody", `{"admin": true}`, 404, "No such user"},
		{"PATCH", "/hub/api/users/dave", `{"name": "david"}`, 400, "cannot be renamed"},
		{"PATCH", "/hub/api/users/carol", `{"admin": false}`, 400, "admin by the directory"},
		{"PATCH", "/hub/api/users/dave", `{"auth_state": {}}`, 400, "no auth state"},
		{"DELETE", "/hub/api/users/nobody", "", 404, "No such user"},
		{"DELETE", "/hub/api/users/carol", "", 400, "Cannot delete yourself!"},
	} {
		resp, body := e.api(tc.method, tc.path, admin, tc.body)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.says) {
			t.Errorf("%s %s %s: %d %s, want %d saying %q", tc.method, tc.path, tc.body, resp.StatusCode, body, tc.status, tc.says)
		}
	}
	if _, err := e.store.GetUser(ctx, "ok"); err == nil {
		t.Error("a refused bulk create made a user")
	}

	// frank, created by an admin without a grant, is granted admin.
	if resp, body := e.api("POST", "/hub/api/users/frank", admin, `{}`); resp.StatusCode != http.StatusCreated || !strings.Contains(body, `"admin":false`) {
		t.Fatalf("create frank: %d %s", resp.StatusCode, body)
	}
	frank := e.apiToken("frank", TokenUser, 0, time.Time{})
	if resp, _ := e.api("GET", "/hub/api/users", frank, ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("frank lists users before the grant: %d", resp.StatusCode)
	}
	resp, body = e.api("PATCH", "/hub/api/users/frank", admin, `{"admin": true, "name": "frank"}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"admin":true`) || !strings.Contains(body, `"auth_state":null`) {
		t.Fatalf("grant frank admin: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.api("GET", "/hub/api/users", frank, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("frank lists users after the grant: %d", resp.StatusCode)
	}
	// frank logs in; the directory does not list him as an admin: the
	// grant stays (a login and a rights refresh write only the
	// directory's verdict).
	if _, err := e.store.UpsertUser(ctx, gateway.User{Name: "frank", Admin: false, LastLogin: now}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := e.api("GET", "/hub/api/users", frank, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("frank after a login without the directory's admin: %d, want still an admin", resp.StatusCode)
	}
	// A non-admin cannot grant it, even to themselves.
	alice := e.apiToken("alice", TokenUser, 0, time.Time{})
	if resp, _ := e.api("PATCH", "/hub/api/users/alice", alice, `{"admin": true}`); resp.StatusCode != http.StatusForbidden {
		t.Errorf("alice grants herself admin: %d, want 403", resp.StatusCode)
	}
	if resp, body := e.api("PATCH", "/hub/api/users/frank", admin, `{"admin": false}`); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"admin":false`) {
		t.Errorf("take frank's grant back: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.api("GET", "/hub/api/users", frank, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("frank lists users after the grant was taken back: %d", resp.StatusCode)
	}

	// Deleting alice, whose server runs: it is stopped first, and while
	// the scheduler has not confirmed the end, the answer is "wait".
	info := ready("alice", now)
	e.serverIs(info)
	var stops []string
	e.hub.StopFn = func(_ context.Context, user, server, by string) error {
		stops = append(stops, user+"/"+server)
		info.State = gateway.StateStopping
		return nil
	}
	resp, body = e.api("DELETE", "/hub/api/users/alice", admin, "")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "alice's server is in the process of stopping, please wait.") {
		t.Errorf("delete alice while her server stops: %d %s", resp.StatusCode, body)
	}
	if len(stops) != 1 || stops[0] != "alice/" {
		t.Errorf("stops = %v, want alice's default server once", stops)
	}
	if resp, _ := e.api("GET", "/hub/api/user", alice, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("alice's token before her delete went through: %d", resp.StatusCode)
	}
	info.State = gateway.StateStopped // the scheduler confirmed
	resp, body = e.api("DELETE", "/hub/api/users/alice", admin, "")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete alice: %d %s", resp.StatusCode, body)
	}
	if len(stops) != 1 {
		t.Errorf("a stopped server was stopped again: %v", stops)
	}
	if resp, _ := e.api("GET", "/hub/api/user", alice, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("alice's token after her delete: %d, want 403", resp.StatusCode)
	}
	if resp, _ := e.api("GET", "/hub/api/users/alice", admin, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET alice after delete: %d", resp.StatusCode)
	}
}
