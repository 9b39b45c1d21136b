package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"hpcgate/gateway"
)

// testUserAccess: who is refreshed (logged in, holding a live session or
// token), and RevokeUserAccess ends every session and token of one user,
// of every kind, and nothing of anyone else.
func testUserAccess(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t) // alice, never logged in
	now := e.clock.Now()
	for _, n := range []string{"bob", "carol", "dave", "erin"} {
		must(s.UpsertUser(ctx, gateway.User{Name: n, LastLogin: now}))(t)
	}
	must(s.EnsureUser(ctx, "prometheus"))(t) // `hpcgate token`: never logged in
	must2(t)(s.NewToken(ctx, gateway.TokenSpec{User: "prometheus", Kind: gateway.TokenAPI, Scopes: []string{"read:metrics"}}))
	must2(t)(s.NewToken(ctx, gateway.TokenSpec{User: "alice", Kind: gateway.TokenAPI}))

	bobSess := must(s.CreateSession(ctx, "bob", now.Add(time.Hour)))(t)
	sv := must(s.StartServer(ctx, gateway.NewServer{User: "bob", JobName: "hpcgate-bob-default-1"}))(t)
	bobTokens := []gateway.TokenSpec{
		{User: "bob", Kind: gateway.TokenAPI},
		{User: "bob", Kind: gateway.TokenServer, ServerID: sv.ID},
		{User: "bob", Kind: gateway.TokenOAuth, SessionID: bobSess},
	}
	var plains []string
	for _, spec := range bobTokens {
		p, _ := must2(t)(s.NewToken(ctx, spec))
		plains = append(plains, p)
	}
	must(s.CreateOAuthCode(ctx, gateway.OAuthCode{ClientID: "jupyterhub-user-bob", User: "bob", Expires: now.Add(time.Minute)}))(t)
	must(s.CreateSession(ctx, "carol", now.Add(time.Hour)))(t)
	carolTok, _ := must2(t)(s.NewToken(ctx, gateway.TokenSpec{User: "carol", Kind: gateway.TokenAPI}))
	// dave's session has expired and his token too: nothing to refresh.
	must(s.CreateSession(ctx, "dave", now.Add(time.Minute)))(t)
	must2(t)(s.NewToken(ctx, gateway.TokenSpec{User: "dave", Kind: gateway.TokenAPI, Expires: now.Add(time.Minute)}))
	// erin logged out.
	erinSess := must(s.CreateSession(ctx, "erin", now.Add(time.Hour)))(t)
	if err := s.RevokeSession(ctx, erinSess); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)

	got := must(s.UsersWithAccess(ctx, e.clock.Now()))(t)
	if want := []string{"bob", "carol"}; !slices.Equal(got, want) {
		t.Fatalf("UsersWithAccess = %q, want %q", got, want)
	}

	sessions, tokens, err := s.RevokeUserAccess(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if sessions != 1 || tokens != 3 {
		t.Errorf("RevokeUserAccess(bob) = %d sessions, %d tokens; want 1, 3", sessions, tokens)
	}
	if _, err := s.GetSession(ctx, bobSess); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("bob's session after revocation: %v, want not found", err)
	}
	for i, p := range plains {
		if _, err := s.LookupToken(ctx, p); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("bob's %s token after revocation: %v, want not found", bobTokens[i].Kind, err)
		}
	}
	var codes int
	if err := s.db.GetContext(ctx, &codes, s.q("SELECT COUNT(*) FROM oauth_codes WHERE username = ?"), "bob"); err != nil || codes != 0 {
		t.Errorf("bob's OAuth codes after revocation: %d (%v), want 0", codes, err)
	}
	if _, err := s.LookupToken(ctx, carolTok); err != nil {
		t.Errorf("carol's token after revoking bob: %v", err)
	}
	if got := must(s.UsersWithAccess(ctx, e.clock.Now()))(t); !slices.Equal(got, []string{"carol"}) {
		t.Errorf("UsersWithAccess after revoking bob = %q, want [carol]", got)
	}
	if _, _, err := s.RevokeUserAccess(ctx, "bob"); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
}
