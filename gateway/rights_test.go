package gateway_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"hpcgate/gateway"
	"hpcgate/gateway/config"
	"hpcgate/gateway/ldapauth"
	"hpcgate/gateway/ldapauth/ldaptest"
)

func directoryAuth(t *testing.T, cfg ldapauth.Config) *ldapauth.Authenticator {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := ldapauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// holder is a test user with what a logged-in user holds.
type holder struct {
	name, session, token string
}

// logIn records a login of name as the web layer does, with a session and
// an API token.
func logIn(t *testing.T, h *testHub, name string, admin bool) holder {
	t.Helper()
	ctx := context.Background()
	if _, err := h.store.UpsertUser(ctx, gateway.User{Name: name, Admin: admin, LastLogin: h.clock()}); err != nil {
		t.Fatal(err)
	}
	sess, err := h.store.CreateSession(ctx, name, h.clock().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := h.store.NewToken(ctx, gateway.TokenSpec{User: name, Kind: gateway.TokenAPI})
	if err != nil {
		t.Fatal(err)
	}
	return holder{name: name, session: sess, token: tok}
}

func (u holder) hasAccess(t *testing.T, h *testHub) (session, token bool) {
	t.Helper()
	ctx := context.Background()
	_, serr := h.store.GetSession(ctx, u.session)
	_, terr := h.store.LookupToken(ctx, u.token)
	for _, err := range []error{serr, terr} {
		if err != nil && !errors.Is(err, gateway.ErrNotFound) {
			t.Fatal(err)
		}
	}
	return serr == nil, terr == nil
}

// TestRightsRefreshedWithinOneInterval changes the test's own users in
// the cluster's slapd while the hub's cron runs with a 2s refresh
// interval: within that interval the user removed from hpc-users and the
// disabled one lose session, tokens and server, the demoted admin their
// admin flag, and the event log says why; the untouched user keeps all.
func TestRightsRefreshedWithinOneInterval(t *testing.T) {
	d := ldaptest.Load(t)
	h, fake, _, _ := newTestHub(t)
	h.SetDirectory(directoryAuth(t, d.Config()))
	const interval = 2 * time.Second

	name := func(groups ...string) string { n, _ := d.NewUser(t, 6000, groups...); return n }
	kept := logIn(t, h, name("hpc-users"), false)
	removed := logIn(t, h, name("hpc-users"), false)
	disabled := logIn(t, h, name("hpc-users"), false)
	demoted := logIn(t, h, name("hpc-users", "hpc-admins"), true)
	srv := spawnAndWait(t, h, removed.name)
	serverTok, err := h.ServerToken(context.Background(), mustServer(t, h, removed.name))
	if err != nil || serverTok == "" {
		t.Fatalf("the server's token: %q, %v", serverTok, err)
	}

	// A first run with nothing changed changes nothing.
	if err := h.RefreshRights(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, u := range []holder{kept, removed, disabled, demoted} {
		if s, tk := u.hasAccess(t, h); !s || !tk {
			t.Fatalf("%s before any change: session %v, token %v", u.name, s, tk)
		}
	}

	h.cfg.Cron = config.Cron{} // only the refresh
	h.cfg.LDAP.RefreshInterval = config.Duration(interval)
	sched, err := h.StartCron()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { <-sched.Stop().Done() })

	d.RemoveFromGroup(t, removed.name, "hpc-users")
	d.Disable(t, disabled.name)
	d.RemoveFromGroup(t, demoted.name, "hpc-admins")
	changed := time.Now()

	deadline := changed.Add(interval)
	for {
		rs, rt := removed.hasAccess(t, h)
		ds, dt := disabled.hasAccess(t, h)
		u, err := h.store.GetUser(context.Background(), demoted.name)
		if err != nil {
			t.Fatal(err)
		}
		if !rs && !rt && !ds && !dt && !u.Admin {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v after the change (interval %v): removed session %v token %v, disabled session %v token %v, demoted admin %v",
				time.Since(changed), interval, rs, rt, ds, dt, u.Admin)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("rights changed %v after the directory (interval %v)", time.Since(changed).Round(time.Millisecond), interval)

	if s, tk := kept.hasAccess(t, h); !s || !tk {
		t.Errorf("%s (unchanged) lost access: session %v, token %v", kept.name, s, tk)
	}
	if s, tk := demoted.hasAccess(t, h); !s || !tk {
		t.Errorf("%s (demoted, still allowed) lost their login: session %v, token %v", demoted.name, s, tk)
	}
	if _, err := h.store.LookupToken(context.Background(), serverTok); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("the server's own token of %s after revocation: %v", removed.name, err)
	}
	if info, _ := h.Server(context.Background(), removed.name, ""); info.State != gateway.StateStopping || fake.count("cancel") != 1 {
		t.Errorf("server of %s (job %s) after revocation: %s, %d cancels; want stopping, 1", removed.name, srv.JobID, info.State, fake.count("cancel"))
	}

	for _, c := range []struct{ user, kind, says string }{
		{removed.name, "revoke", "in none of the groups allowed"},
		{disabled.name, "revoke", "not found in the directory by user_filter"},
		{demoted.name, "demote", "Admin rights removed"},
	} {
		evs, err := h.store.ListEvents(context.Background(), gateway.EventFilter{User: c.user, Kind: c.kind})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || !strings.Contains(evs[0].Message, c.says) {
			t.Errorf("%s events of %s: %+v, want one saying %q", c.kind, c.user, evs, c.says)
		} else {
			t.Logf("event for %s: %s", c.user, evs[0].Message)
		}
	}
}

func mustServer(t *testing.T, h *testHub, user string) *gateway.Server {
	t.Helper()
	s, err := h.store.GetServer(context.Background(), user, "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRefreshWithDirectoryDown: a directory that cannot be reached
// revokes nothing, and the error says nothing changed.
func TestRefreshWithDirectoryDown(t *testing.T) {
	d := ldaptest.Load(t)
	h, _, _, _ := newTestHub(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := d.Config()
	cfg.URL, cfg.ServerName = "ldap://"+ln.Addr().String(), "127.0.0.1"
	ln.Close()
	h.SetDirectory(directoryAuth(t, cfg))
	metrics := gateway.NewMetrics()
	h.SetMetrics(metrics)
	// A name the directory does not have: were the error taken for "not
	// found", this user would lose everything.
	u := logIn(t, h, "sec-nobody", true)
	err = h.RefreshRights(context.Background())
	if !errors.Is(err, gateway.ErrDirectoryUnavailable) || !strings.Contains(err.Error(), "nothing changed") {
		t.Fatalf("RefreshRights with the directory down: %v", err)
	}
	if s, tk := u.hasAccess(t, h); !s || !tk {
		t.Errorf("after a failed refresh: session %v, token %v; want both kept", s, tk)
	}
	if got, _ := h.store.GetUser(context.Background(), u.name); !got.Admin {
		t.Error("a failed refresh cleared the admin flag")
	}
	if evs, _ := h.store.ListEvents(context.Background(), gateway.EventFilter{User: u.name}); len(evs) != 0 {
		t.Errorf("events after a failed refresh: %+v", evs)
	}
	if n := metrics.Refreshes("unavailable"); n != 1 {
		t.Errorf("unavailable refreshes counted: %v, want 1", n)
	}
}
