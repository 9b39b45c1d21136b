package web

import (
	"context"
	"net/http"
	"testing"

	"hpcgate/gateway/store"
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
	limited, _, err := e.store.NewToken(ctx, store.TokenSpec{User: "alice", Kind: store.KindAPI, Scopes: []string{"read:metrics"}})
	if err != nil {
		t.Fatal(err)
	}
	full := e.apiToken("alice", store.KindAPI, 0, e.clock.Now().Add(0).AddDate(1, 0, 0))
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
