package web

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"hpcgate/gateway"
)

// POST /hub/api/users/<name>/tokens with scopes makes a token with those
// scopes, as JupyterHub 3.0 does, and no more: a client asking for a
// narrow token (to hand to a dashboard) must not get its owner's full
// rights, and a narrow token must not mint a broader one (a token that
// may only manage tokens, or read:metrics, which only the operator
// grants).
func TestCreateTokenKeepsRequestedScopes(t *testing.T) {
	e := newEnv(t)
	alice := e.apiToken("alice", TokenUser, 0, time.Time{})
	e.hub.StopFn = func(context.Context, string, string, string) error { return nil }

	resp, body := e.api("POST", "/hub/api/users/alice/tokens", alice, `{"scopes": ["read:users!user=alice"]}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create a narrow token: %d %s", resp.StatusCode, body)
	}
	var m struct {
		Token  string   `json:"token"`
		Scopes []string `json:"scopes"`
	}
	json.Unmarshal([]byte(body), &m)
	if resp, body := e.api("DELETE", "/hub/api/users/alice/server", m.Token, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a token asked for read:users!user=alice stops alice's server: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.api("POST", "/hub/api/users/alice/tokens", m.Token, `{}`); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the narrow token makes tokens: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.api("GET", "/hub/api/users/alice", m.Token, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("the narrow token reads alice: %d %s", resp.StatusCode, body)
	}

	// A token that may only manage alice's tokens mints neither a token
	// with alice's full rights nor one with scopes it does not hold.
	plain, _, err := e.store.NewToken(context.Background(), gateway.TokenSpec{User: "alice", Kind: TokenUser, Scopes: []string{"tokens!user=alice"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []string{`{}`, `{"scopes": ["inherit"]}`, `{"scopes": ["servers!user=alice"]}`, `{"scopes": ["read:metrics"]}`} {
		resp, body := e.api("POST", "/hub/api/users/alice/tokens", plain, req)
		if resp.StatusCode == http.StatusCreated {
			json.Unmarshal([]byte(body), &m)
			code, out := e.api("DELETE", "/hub/api/users/alice/server", m.Token, "")
			t.Errorf("a tokens-only token asked for %s got a token (%s); with it DELETE alice's server: %d %s", req, body, code.StatusCode, out)
		}
	}
	// A user asking for a scope she does not hold is refused, as
	// JupyterHub refuses it.
	for _, req := range []string{`{"scopes": ["read:metrics"]}`, `{"scopes": ["admin:users"]}`, `{"scopes": ["servers!user=bob"]}`, `{"scopes": ["no-such-scope"]}`} {
		if resp, body := e.api("POST", "/hub/api/users/alice/tokens", alice, req); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("alice asks for %s: %d %s, want 400", req, resp.StatusCode, body)
		}
	}
	// Without scopes, alice's own full token still gets her rights.
	resp, body = e.api("POST", "/hub/api/users/alice/tokens", alice, `{}`)
	json.Unmarshal([]byte(body), &m)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("alice's default token: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.api("DELETE", "/hub/api/users/alice/server", m.Token, ""); resp.StatusCode >= 400 {
		t.Errorf("alice's default token stops her server: %d %s", resp.StatusCode, body)
	}
}
