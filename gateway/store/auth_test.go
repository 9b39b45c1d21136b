package store

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hpcgate/gateway"
)

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func testTokenHashOnly(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t)
	sv := must(s.StartServer(ctx, gateway.NewServer{User: "alice", JobName: "hpcgate-alice-default-1"}))(t)
	sess := must(s.CreateSession(ctx, "alice", e.clock.Now().Add(time.Hour)))(t)
	specs := []gateway.TokenSpec{
		{User: "alice", Kind: gateway.TokenAPI, Note: "laptop", Scopes: []string{"self"}},
		{User: "alice", Kind: gateway.TokenServer, ServerID: sv.ID, Expires: e.clock.Now().Add(24 * time.Hour)},
		{User: "alice", Kind: gateway.TokenOAuth, SessionID: sess, Scopes: []string{"access:servers!server=alice/"}},
	}
	var plains []string
	for _, spec := range specs {
		plain, tok, err := s.NewToken(ctx, spec)
		if err != nil {
			t.Fatalf("NewToken(%+v): %v", spec, err)
		}
		if !hex64.MatchString(plain) || tok.Prefix != plain[:4] {
			t.Errorf("token %q, prefix %q: want 64 hex digits and its first 4", plain, tok.Prefix)
		}
		got, err := s.LookupToken(ctx, plain)
		if err != nil {
			t.Fatalf("LookupToken(%s token): %v", spec.Kind, err)
		}
		if got.ID != tok.ID || got.User != "alice" || got.Kind != spec.Kind || got.ServerID != spec.ServerID ||
			got.SessionID != spec.SessionID || got.Note != spec.Note || !slices.Equal(got.Scopes, spec.Scopes) {
			t.Errorf("LookupToken = %+v, want the token made from %+v", got, spec)
		}
		sameTime(t, "Expires", got.Expires, spec.Expires)
		plains = append(plains, plain)
	}
	code := must(s.CreateOAuthCode(ctx, gateway.OAuthCode{ClientID: "jupyterhub-user-alice", User: "alice",
		RedirectURI: "/user/alice/oauth_callback", SessionID: sess, Expires: e.clock.Now().Add(time.Minute)}))(t)
	plains = append(plains, code)

	d := dump(t, s)
	if !strings.Contains(d, hashSecret(plains[0])) || !strings.Contains(d, "laptop") {
		t.Fatalf("the dump is missing the token's hash or note; the check below would prove nothing:\n%s", d)
	}
	for _, p := range plains {
		// The prefix is stored on purpose; anything longer is a leak.
		for _, piece := range []string{p, p[:16], p[len(p)-16:]} {
			if strings.Contains(d, piece) {
				t.Errorf("plain secret %s… found in the database:\n%s", p[:8], d)
			}
		}
	}
	if _, _, err := s.NewToken(ctx, gateway.TokenSpec{User: "alice", Kind: "root"}); err == nil {
		t.Error("NewToken with an unknown kind succeeded")
	}
	if _, _, err := s.NewToken(ctx, gateway.TokenSpec{User: "nobody", Kind: gateway.TokenAPI}); err == nil {
		t.Error("NewToken for an unknown user succeeded")
	}
}

func testTokenExpiry(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t)
	start := e.clock.Now()
	short, _ := must2(t)(s.NewToken(ctx, gateway.TokenSpec{User: "alice", Kind: gateway.TokenAPI, Expires: start.Add(time.Hour)}))
	forever, _ := must2(t)(s.NewToken(ctx, gateway.TokenSpec{User: "alice", Kind: gateway.TokenAPI}))

	tok := must(s.LookupToken(ctx, short))(t)
	sameTime(t, "LastUsed after the first use", tok.LastUsed, start)
	// The stamp is written by the background flush, not by the lookup.
	if got := storedLastUsed(t, s, tok.ID); !got.IsZero() {
		t.Errorf("last_used written on the lookup's path: %v", got)
	}
	s.FlushUses(ctx)
	if got := storedLastUsed(t, s, tok.ID); !got.Equal(utc(start)) {
		t.Errorf("last_used = %v after the flush; want %v", got, utc(start))
	}
	e.clock.Advance(30 * time.Second)
	must(s.LookupToken(ctx, short))(t)
	s.FlushUses(ctx)
	if got := storedLastUsed(t, s, tok.ID); !got.Equal(utc(start)) {
		t.Errorf("last_used rewritten %v after 30s; want it kept at %v", got, utc(start))
	}
	later := e.clock.Advance(40 * time.Second)
	must(s.LookupToken(ctx, short))(t)
	s.FlushUses(ctx)
	if got := storedLastUsed(t, s, tok.ID); !got.Equal(utc(later)) {
		t.Errorf("last_used = %v after 70s, want %v", got, utc(later))
	}

	now := e.clock.Advance(time.Hour)
	_, err := s.LookupToken(ctx, short)
	wantErr(t, "LookupToken of an expired token", err, gateway.ErrNotFound)
	must(s.LookupToken(ctx, forever))(t)
	_, err = s.LookupToken(ctx, strings.Repeat("0", 64))
	wantErr(t, "LookupToken of an unknown token", err, gateway.ErrNotFound)
	_, err = s.LookupToken(ctx, "")
	wantErr(t, "LookupToken of an empty token", err, gateway.ErrNotFound)

	if n := must(s.DeleteExpiredTokens(ctx, now))(t); n != 1 {
		t.Errorf("DeleteExpiredTokens = %d, want 1", n)
	}
	if toks := must(s.ListTokens(ctx, "alice"))(t); len(toks) != 1 || !toks[0].Expires.IsZero() {
		t.Errorf("after deleting expired tokens: %+v, want only the one that never expires", toks)
	}
}

func must2(t *testing.T) func(string, *gateway.Token, error) (string, *gateway.Token) {
	return func(p string, tok *gateway.Token, err error) (string, *gateway.Token) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p, tok
	}
}

func storedLastUsed(t *testing.T, s *Store, id int64) time.Time {
	t.Helper()
	var lu tstamp
	if err := s.db.Get(&lu, s.q("SELECT last_used FROM api_tokens WHERE id = ?"), id); err != nil {
		t.Fatal(err)
	}
	return lu.Time()
}

func testTokenOwnership(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t)
	must(s.UpsertUser(ctx, gateway.User{Name: "bob"}))(t)
	_, a := must2(t)(s.NewToken(ctx, gateway.TokenSpec{User: "alice", Kind: gateway.TokenAPI, Note: "a"}))
	_, b := must2(t)(s.NewToken(ctx, gateway.TokenSpec{User: "bob", Kind: gateway.TokenAPI, Note: "b"}))
	wantErr(t, "bob deletes alice's token", s.DeleteToken(ctx, "bob", a.ID), gateway.ErrNotFound)
	if err := s.DeleteToken(ctx, "alice", a.ID); err != nil {
		t.Errorf("alice deletes her token: %v", err)
	}
	wantErr(t, "delete twice", s.DeleteToken(ctx, "alice", a.ID), gateway.ErrNotFound)
	if toks := must(s.ListTokens(ctx, "bob"))(t); len(toks) != 1 || toks[0].ID != b.ID {
		t.Errorf("bob's tokens = %+v, want his one", toks)
	}
}

func testSessionRevocation(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t)
	expires := e.clock.Now().Add(8 * time.Hour)
	id := must(s.CreateSession(ctx, "alice", expires))(t)
	other := must(s.CreateSession(ctx, "alice", expires))(t)
	if !hex64.MatchString(id) || id == other {
		t.Fatalf("session ids %q, %q: want distinct 64 hex digits", id, other)
	}
	sess := must(s.GetSession(ctx, id))(t)
	if sess.User != "alice" || sess.Revoked() {
		t.Errorf("GetSession = %+v", sess)
	}
	sameTime(t, "Expires", sess.Expires, expires)
	oauth, _ := must2(t)(s.NewToken(ctx, gateway.TokenSpec{User: "alice", Kind: gateway.TokenOAuth, SessionID: id}))
	api, _ := must2(t)(s.NewToken(ctx, gateway.TokenSpec{User: "alice", Kind: gateway.TokenAPI}))
	code := must(s.CreateOAuthCode(ctx, gateway.OAuthCode{ClientID: "c", User: "alice", RedirectURI: "/cb",
		SessionID: id, Expires: e.clock.Now().Add(time.Minute)}))(t)

	if err := s.RevokeSession(ctx, id); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	_, err := s.GetSession(ctx, id)
	wantErr(t, "GetSession after revocation", err, gateway.ErrNotFound)
	_, err = s.LookupToken(ctx, oauth)
	wantErr(t, "OAuth token of a revoked session", err, gateway.ErrNotFound)
	_, err = s.ConsumeOAuthCode(ctx, code)
	wantErr(t, "OAuth code of a revoked session", err, gateway.ErrNotFound)
	must(s.LookupToken(ctx, api))(t)
	must(s.GetSession(ctx, other))(t)
	if err := s.RevokeSession(ctx, id); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	wantErr(t, "RevokeSession of an unknown id", s.RevokeSession(ctx, "nope"), gateway.ErrNotFound)

	third := must(s.CreateSession(ctx, "alice", expires))(t)
	if n := must(s.RevokeUserSessions(ctx, "alice"))(t); n != 2 {
		t.Errorf("RevokeUserSessions = %d, want 2 (other and third)", n)
	}
	for _, sid := range []string{other, third} {
		_, err := s.GetSession(ctx, sid)
		wantErr(t, "GetSession after RevokeUserSessions", err, gateway.ErrNotFound)
	}

	live := must(s.CreateSession(ctx, "alice", e.clock.Now().Add(time.Hour)))(t)
	e.clock.Advance(time.Hour)
	_, err = s.GetSession(ctx, live)
	wantErr(t, "GetSession at its expiry", err, gateway.ErrNotFound)
	long := must(s.CreateSession(ctx, "alice", e.clock.Now().Add(time.Hour)))(t)
	if n := must(s.DeleteExpiredSessions(ctx, e.clock.Now()))(t); n != 4 {
		t.Errorf("DeleteExpiredSessions = %d, want 4 (3 revoked, 1 expired)", n)
	}
	must(s.GetSession(ctx, long))(t)
}

func testOAuthCodes(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t)
	sess := must(s.CreateSession(ctx, "alice", e.clock.Now().Add(time.Hour)))(t)
	want := gateway.OAuthCode{ClientID: "jupyterhub-user-alice", User: "alice", RedirectURI: "/user/alice/oauth_callback",
		Scopes: []string{"access:servers!server=alice/"}, SessionID: sess, Expires: e.clock.Now().Add(10 * time.Minute)}
	code := must(s.CreateOAuthCode(ctx, want))(t)
	got := must(s.ConsumeOAuthCode(ctx, code))(t)
	if got.ClientID != want.ClientID || got.User != want.User || got.RedirectURI != want.RedirectURI ||
		got.SessionID != sess || !slices.Equal(got.Scopes, want.Scopes) {
		t.Errorf("ConsumeOAuthCode = %+v, want %+v", got, want)
	}
	sameTime(t, "Created", got.Created, e.clock.Now())
	_, err := s.ConsumeOAuthCode(ctx, code)
	wantErr(t, "second use of a code", err, gateway.ErrNotFound)

	// Racing exchanges of one code: exactly one wins.
	code = must(s.CreateOAuthCode(ctx, gateway.OAuthCode{ClientID: "c", User: "alice", RedirectURI: "/cb", Expires: e.clock.Now().Add(time.Minute)}))(t)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := s.ConsumeOAuthCode(ctx, code); err == nil {
				wins.Add(1)
			} else {
				wantErr(t, "losing exchange", err, gateway.ErrNotFound)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d concurrent exchanges of one code succeeded, want 1", wins.Load())
	}

	old := must(s.CreateOAuthCode(ctx, gateway.OAuthCode{ClientID: "c", User: "alice", RedirectURI: "/cb", Expires: e.clock.Now().Add(time.Minute)}))(t)
	must(s.CreateOAuthCode(ctx, gateway.OAuthCode{ClientID: "c", User: "alice", RedirectURI: "/cb", Expires: e.clock.Now().Add(time.Hour)}))(t)
	e.clock.Advance(time.Minute)
	_, err = s.ConsumeOAuthCode(ctx, old)
	wantErr(t, "ConsumeOAuthCode at expiry", err, gateway.ErrNotFound)
	must(s.CreateOAuthCode(ctx, gateway.OAuthCode{ClientID: "c", User: "alice", RedirectURI: "/cb", Expires: e.clock.Now().Add(time.Second)}))(t)
	if n := must(s.DeleteExpiredCodes(ctx, e.clock.Now().Add(2*time.Second)))(t); n != 1 {
		t.Errorf("DeleteExpiredCodes = %d, want 1", n)
	}
	if _, err := s.CreateOAuthCode(ctx, gateway.OAuthCode{ClientID: "c", User: "alice"}); err == nil {
		t.Error("CreateOAuthCode without expiry succeeded")
	}
}
