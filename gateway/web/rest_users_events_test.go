package web

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"hpcgate/gateway"
)

// TestUserManagementEvents: creating and deleting users and giving or
// taking back the hub's admin grant are written to the events table,
// with who did it; refused requests write nothing.
func TestUserManagementEvents(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := e.apiToken("carol", TokenUser, 0, time.Time{})
	e.serverIs()
	for _, r := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/hub/api/users", `{"usernames": ["dave", "erin"], "admin": true}`, 201},
		{"POST", "/hub/api/users/frank", "", 201},
		{"POST", "/hub/api/users/frank", "", 409},
		{"PATCH", "/hub/api/users/frank", `{"admin": true}`, 200},
		{"PATCH", "/hub/api/users/frank", `{"admin": true}`, 200}, // no change, no event
		{"PATCH", "/hub/api/users/dave", `{"admin": false}`, 200},
		{"PATCH", "/hub/api/users/carol", `{"admin": false}`, 400},
		{"DELETE", "/hub/api/users/erin", "", 204},
		{"DELETE", "/hub/api/users/carol", "", 400},
	} {
		if resp, body := e.api(r.method, r.path, admin, r.body); resp.StatusCode != r.status {
			t.Fatalf("%s %s: %d %s, want %d", r.method, r.path, resp.StatusCode, body, r.status)
		}
	}
	want := map[string][]string{ // oldest first
		"dave":  {"create-user User created as an admin by carol.", "revoke-admin Admin rights (the hub's grant) taken back by carol."},
		"erin":  {"create-user User created as an admin by carol.", "delete-user User deleted by carol (their tokens, sessions and server records with it)."},
		"frank": {"create-user User created by carol.", "grant-admin Admin rights granted by carol."},
		"carol": nil,
	}
	for user, w := range want {
		evs, err := e.store.ListEvents(ctx, gateway.EventFilter{User: user})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ev := range slices.Backward(evs) {
			got = append(got, ev.Kind+" "+ev.Message)
			if ev.Data["by"] != "carol" {
				t.Errorf("%s's %s event: data %v, want by carol", user, ev.Kind, ev.Data)
			}
		}
		if !slices.Equal(got, w) {
			t.Errorf("%s's events %q, want %q", user, got, w)
		}
	}
	if resp, _ := e.api("POST", "/hub/api/users/gina", e.apiToken("alice", TokenUser, 0, time.Time{}), ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("alice creating a user: %d", resp.StatusCode)
	}
	if evs, _ := e.store.ListEvents(ctx, gateway.EventFilter{User: "gina"}); len(evs) != 0 {
		t.Errorf("a refused create left events %v", evs)
	}
}
