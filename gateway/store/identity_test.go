package store

import (
	"context"
	"testing"
	"time"

	"hpcgate/gateway"
)

// testIdentityCache: once seen, a token, a session and a user are answered
// from memory (a row changed behind the store's back is not read again),
// and every way the hub revokes access takes effect on the next lookup.
func testIdentityCache(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t)

	// From memory: the rows are gone from the database, bypassing the
	// store's invalidations (as a second replica's delete would, before
	// it learns of LISTEN/NOTIFY), yet the lookups still answer.
	plain, _ := must2(t)(s.NewToken(ctx, gateway.TokenSpec{User: "alice", Kind: gateway.TokenAPI}))
	sid := must(s.CreateSession(ctx, "alice", e.clock.Now().Add(time.Hour)))(t)
	must(s.LookupToken(ctx, plain))(t)
	must(s.GetSession(ctx, sid))(t)
	must(s.GetUser(ctx, "alice"))(t)
	if _, err := s.db.ExecContext(ctx, s.q("UPDATE users SET admin = ? WHERE name = ?"), true, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, s.q("DELETE FROM api_tokens WHERE username = ?"), "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupToken(ctx, plain); err != nil {
		t.Errorf("a token seen once was looked up in the database again: %v", err)
	}
	if u := must(s.GetUser(ctx, "alice"))(t); u.Admin {
		t.Error("a user seen once was read from the database again")
	}
	// Any invalidation brings the database's truth back.
	s.ids.forget(forget{creds: true, users: []string{"alice"}})
	if _, err := s.LookupToken(ctx, plain); err == nil {
		t.Error("after invalidation, a deleted token still answers")
	}
	if u := must(s.GetUser(ctx, "alice"))(t); !u.Admin {
		t.Error("after invalidation, the user's admin flag is stale")
	}

	// Every revocation is immediate. Each case warms the cache with a
	// lookup, revokes, and looks up again.
	newUser := func(name string) {
		if _, err := s.UpsertUser(ctx, gateway.User{Name: name, Admin: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		revoke func(user, token string, tokenID int64, session string)
		// what must be refused after it
		token, session, user bool
	}{
		{"logout", func(_, _ string, _ int64, sess string) { must0(t, s.RevokeSession(ctx, sess)) }, false, true, false},
		{"token deleted", func(u, _ string, id int64, _ string) { must0(t, s.DeleteToken(ctx, u, id)) }, true, false, false},
		{"token expired", func(string, string, int64, string) { e.clock.Advance(2 * time.Hour) }, true, true, false},
		{"rights refresh from the directory", func(u, _ string, _ int64, _ string) {
			if _, _, err := s.RevokeUserAccess(ctx, u); err != nil {
				t.Fatal(err)
			}
		}, true, true, false},
		{"user deleted", func(u, _ string, _ int64, _ string) { must0(t, s.DeleteUser(ctx, u)) }, true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := "u-" + tc.name[:5]
			newUser(user)
			now := e.clock.Now()
			plain, tok := must2(t)(s.NewToken(ctx, gateway.TokenSpec{User: user, Kind: gateway.TokenAPI, Expires: now.Add(time.Hour)}))
			sess := must(s.CreateSession(ctx, user, now.Add(time.Hour)))(t)
			must(s.LookupToken(ctx, plain))(t)
			must(s.GetSession(ctx, sess))(t)
			must(s.GetUser(ctx, user))(t)

			tc.revoke(user, plain, tok.ID, sess)

			if _, err := s.LookupToken(ctx, plain); (err == nil) == tc.token {
				t.Errorf("token after %s: err %v; refused: want %v", tc.name, err, tc.token)
			}
			if _, err := s.GetSession(ctx, sess); (err == nil) == tc.session {
				t.Errorf("session after %s: err %v; refused: want %v", tc.name, err, tc.session)
			}
			if _, err := s.GetUser(ctx, user); (err == nil) == tc.user {
				t.Errorf("user after %s: err %v; gone: want %v", tc.name, err, tc.user)
			}
		})
	}

	// A demotion by the directory (UpsertUser) is seen at once.
	newUser("demoted")
	must(s.GetUser(ctx, "demoted"))(t)
	if _, err := s.UpsertUser(ctx, gateway.User{Name: "demoted", Admin: false}); err != nil {
		t.Fatal(err)
	}
	if u := must(s.GetUser(ctx, "demoted"))(t); u.Admin {
		t.Error("a demoted user is still admin from memory")
	}
}

func must0(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
