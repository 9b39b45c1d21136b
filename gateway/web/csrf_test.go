package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"hpcgate/gateway"
)

func TestFormPostsNeedXSRF(t *testing.T) {
	e := newEnv(t)
	spawned := 0
	e.hub.SpawnFn = func(_ context.Context, req gateway.SpawnRequest) (*gateway.ServerInfo, error) {
		spawned++
		return queued(req.User, e.clock.Now()), nil
	}
	alice := e.browser()
	alice.login("alice", "alice-pass")
	good := alice.xsrf("/hub/spawn")
	bob := e.browser()
	bob.login("bob", "bob-pass")
	bobs := bob.xsrf("/hub/spawn")

	form := func(tok string) url.Values {
		v := url.Values{"profile": {"local/small"}}
		if tok != "" {
			v.Set("_xsrf", tok)
		}
		return v
	}
	tests := []struct {
		name   string
		form   url.Values
		origin string
		status int
	}{
		{"no token", form(""), "", http.StatusForbidden},
		{"wrong token", form("AAAA" + good[4:]), "", http.StatusForbidden},
		{"another session's token", form(bobs), "", http.StatusForbidden},
		{"login form token", form(alice.loginToken()), "", http.StatusForbidden},
		{"good token, foreign origin", form(good), "https://evil.example", http.StatusForbidden},
		{"good token, null origin", form(good), "null", http.StatusForbidden},
		{"good token", form(good), "", http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			origin := tt.origin
			if origin == "" {
				origin = e.ts.URL
			}
			resp, body := alice.do("POST", "/hub/spawn", strings.NewReader(tt.form.Encode()), http.Header{
				"Content-Type": {"application/x-www-form-urlencoded"},
				"Origin":       {origin},
			})
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d\n%s", resp.StatusCode, tt.status, body)
			}
		})
	}
	if spawned != 1 {
		t.Errorf("Hub.Spawn called %d times, want once (only the good form)", spawned)
	}
}

// loginToken is the token of a fresh login form (a valid token, but for
// another purpose than a session's forms).
func (b *browser) loginToken() string {
	other := b.e.browser()
	return other.xsrf("/hub/login")
}

func TestLoginFormNeedsXSRF(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.xsrf("/hub/login") // sets the nonce cookie
	resp, body := b.post("/hub/login", url.Values{"username": {"alice"}, "password": {"alice-pass"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, msgFormExpired) {
		t.Errorf("login without _xsrf: %d, want 403 with %q", resp.StatusCode, msgFormExpired)
	}
	// A token from another browser's form does not fit this one's cookie.
	resp, _ = b.post("/hub/login", url.Values{"_xsrf": {b.loginToken()}, "username": {"alice"}, "password": {"alice-pass"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login with another form's token: %d, want 403", resp.StatusCode)
	}
}

func TestAPIMutationsWithCookieNeedXSRFHeader(t *testing.T) {
	e := newEnv(t)
	e.hub.SpawnFn = func(_ context.Context, req gateway.SpawnRequest) (*gateway.ServerInfo, error) {
		return queued(req.User, e.clock.Now()), nil
	}
	b := e.browser()
	b.login("alice", "alice-pass")
	tok := b.xsrf("/hub/home")
	post := func(h http.Header) int {
		h.Set("Accept", "application/json")
		resp, _ := b.do("POST", "/hub/api/users/alice/server", strings.NewReader("{}"), h)
		return resp.StatusCode
	}
	if got := post(http.Header{}); got != http.StatusForbidden {
		t.Errorf("cookie without X-XSRFToken: %d, want 403", got)
	}
	if got := post(http.Header{"X-Xsrftoken": {"nope"}}); got != http.StatusForbidden {
		t.Errorf("cookie with a wrong X-XSRFToken: %d, want 403", got)
	}
	if got := post(http.Header{"X-Xsrftoken": {tok}}); got != http.StatusAccepted {
		t.Errorf("cookie with X-XSRFToken: %d, want 202", got)
	}
	// Reads need no token.
	if resp, _ := b.do("GET", "/hub/api/users/alice", nil, http.Header{"Accept": {"application/json"}}); resp.StatusCode != http.StatusOK {
		t.Errorf("GET with cookie: %d, want 200", resp.StatusCode)
	}
	// A token-authenticated call carries no ambient credential: no XSRF.
	token := e.apiToken("bob", TokenUser, 0, time.Time{})
	if resp, body := e.api("POST", "/hub/api/users/bob/server", token, "{}"); resp.StatusCode != http.StatusAccepted {
		t.Errorf("token POST without XSRF: %d, want 202\n%s", resp.StatusCode, body)
	}
}

func TestCookieTamperRefused(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login("alice", "alice-pass")
	good := b.cookie(sessionCookie)
	sid, err := e.srv.keys.open(sessionCookie, good)
	if err != nil {
		t.Fatalf("open own cookie: %v", err)
	}
	other, err := deriveKeys([]byte("another secret, also 32 bytes long!!"))
	if err != nil {
		t.Fatal(err)
	}
	otherSecret, _ := other.seal(sessionCookie, sid)
	otherName, _ := e.srv.keys.seal("jupyterhub-user-alice", sid)
	flip := []byte(good)
	i := len(flip) / 2
	if flip[i] == 'A' {
		flip[i] = 'B'
	} else {
		flip[i] = 'A'
	}
	tests := map[string]string{
		"byte flipped":               string(flip),
		"truncated":                  good[:len(good)-4],
		"plain session id":           sid,
		"sealed with another secret": otherSecret,
		"sealed for another name":    otherName,
		"empty":                      "",
	}
	for name, value := range tests {
		t.Run(name, func(t *testing.T) {
			c := e.browser()
			u, _ := url.Parse(e.url("/"))
			c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: value, Path: "/"}})
			resp, _ := c.get("/hub/home")
			if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/hub/login") {
				t.Errorf("status %d to %q, want a redirect to login", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
	// The untouched cookie still works.
	c := e.browser()
	u, _ := url.Parse(e.url("/"))
	c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: good, Path: "/"}})
	if resp, _ := c.get("/hub/home"); resp.StatusCode != http.StatusOK {
		t.Errorf("good cookie: %d, want 200", resp.StatusCode)
	}
}

func TestSealOpen(t *testing.T) {
	k, err := deriveKeys([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := k.seal("c", "session-1")
	b, _ := k.seal("c", "session-1")
	if a == b {
		t.Error("two seals of the same value are equal: the nonce is not random")
	}
	if v, err := k.open("c", a); err != nil || v != "session-1" {
		t.Errorf("open = %q, %v", v, err)
	}
	if _, err := deriveKeys(make([]byte, 31)); err == nil {
		t.Error("a 31-byte secret was accepted")
	}
	if k.checkXSRF(xsrfSession, "s1", k.xsrfToken(xsrfSession, "s2")) {
		t.Error("the XSRF token of one session passed for another")
	}
	if k.checkXSRF(xsrfSession, "s1", k.xsrfToken(xsrfLogin, "s1")) {
		t.Error("a login token passed as a session token")
	}
	if k.checkXSRF(xsrfSession, "", "") {
		t.Error("an empty token passed")
	}
}
