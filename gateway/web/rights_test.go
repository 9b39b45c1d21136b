package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"hpcgate/gateway"
	"hpcgate/gateway/ldapauth"
	"hpcgate/gateway/ldapauth/ldaptest"
	"hpcgate/gateway/proxy"
)

// withDirectory logs users in against the cluster's slapd.
func withDirectory(a *ldapauth.Authenticator) envOption {
	return func(o *Options, _ *siteSettings) { o.Auth = a }
}

func slapdAuth(t *testing.T, d *ldaptest.Directory) *ldapauth.Authenticator {
	t.Helper()
	cfg := d.Config()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := ldapauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// TestUserGateAfterRevocation: a user logs in for real against slapd and
// reaches their server through /user/, with the browser and with a token;
// the directory drops them from hpc-users, the hub's refresh runs, and the
// same browser and token are refused at the gate before the proxy, and a
// new login is refused too.
func TestUserGateAfterRevocation(t *testing.T) {
	d := ldaptest.Load(t)
	auth := slapdAuth(t, d)
	e := newEnv(t, withDirectory(auth))
	var proxied atomic.Int32
	e.hub.ServeProxyFn = func(w http.ResponseWriter, r *http.Request, user, server string) {
		proxied.Add(1)
		io.WriteString(w, "the server of "+user)
	}
	hub := gateway.New(gateway.Options{Config: e.cfg, Servers: e.store, Users: e.store, Tokens: e.store, Sessions: e.store, Events: e.store,
		Routes:    proxy.New(proxy.Config{}),
		Directory: auth, Now: e.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(hub.Close)

	name, pw := d.NewUser(t, 6200, "hpc-users")
	b := e.browser()
	b.login(name, pw)
	tok, _, err := e.store.NewToken(context.Background(), gateway.TokenSpec{User: name, Kind: TokenUser})
	if err != nil {
		t.Fatal(err)
	}
	path := "/user/" + name + "/api/contents"
	if resp, body := b.get(path); resp.StatusCode != http.StatusOK || !strings.Contains(body, "the server of "+name) {
		t.Fatalf("browser before revocation: %d %q", resp.StatusCode, body)
	}
	if resp, _ := e.api("GET", path, tok, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("token before revocation: %d", resp.StatusCode)
	}

	d.RemoveFromGroup(t, name, "hpc-users")
	if err := hub.RefreshRights(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := proxied.Load()
	resp, _ := b.get(path)
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/hub/login") {
		t.Errorf("browser after revocation: %d to %q, want a redirect to the login page", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := e.api("GET", path, tok, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("token after revocation: %d %q, want 403", resp.StatusCode, body)
	}
	if n := proxied.Load() - before; n != 0 {
		t.Errorf("%d requests reached the proxy after revocation", n)
	}
	xsrf := b.xsrf("/hub/login")
	resp, body := b.post("/hub/login", url.Values{"_xsrf": {xsrf}, "username": {name}, "password": {pw}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not allowed to use this service") {
		t.Errorf("login after revocation: %d, want 403 saying %q\n%s", resp.StatusCode, msgNotAllowed, body)
	}
}

// TestSystemAccountNeverGetsASession: a uid below min_uid with the right
// password gets the system-account message and no session, so nothing it
// sends reaches the hub's spawn (and the SSH certificate it would sign).
func TestSystemAccountNeverGetsASession(t *testing.T) {
	d := ldaptest.Load(t)
	e := newEnv(t, withDirectory(slapdAuth(t, d)))
	var hubCalls atomic.Int32
	e.hub.SpawnFn = func(context.Context, gateway.SpawnRequest) (*gateway.ServerInfo, error) {
		hubCalls.Add(1)
		return nil, errUnexpected
	}
	e.hub.ServeProxyFn = func(w http.ResponseWriter, _ *http.Request, _, _ string) { hubCalls.Add(1) }

	name, pw := d.NewUser(t, 999, "hpc-users")
	b := e.browser()
	xsrf := b.xsrf("/hub/login")
	resp, body := b.post("/hub/login", url.Values{"_xsrf": {xsrf}, "username": {name}, "password": {pw}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, msgSystem) {
		t.Fatalf("login of uid 999: %d, want 403 saying %q\n%s", resp.StatusCode, msgSystem, body)
	}
	if c := b.cookie(sessionCookie); c != "" {
		t.Errorf("a session cookie was set for a system account: %q", c)
	}
	if _, err := e.store.GetUser(context.Background(), name); !isNotFound(err) {
		t.Errorf("the system account was recorded as a hub user: %v", err)
	}
	b.post("/hub/spawn", url.Values{"_xsrf": {xsrf}})
	b.do("POST", "/hub/api/users/"+name+"/server", strings.NewReader("{}"), http.Header{"X-XSRFToken": {xsrf}})
	b.get("/user/" + name + "/")
	if n := hubCalls.Load(); n != 0 {
		t.Errorf("%d calls reached the hub (spawn or proxy) for a refused system account", n)
	}
}
