package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestHubRootRedirects(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for _, path := range []string{"/", "/hub", "/hub/"} {
		resp, _ := b.get(path)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("GET %s: status %d, want 302", path, resp.StatusCode)
		}
		if path == "/hub/" && resp.Header.Get("Location") != "/hub/login" {
			t.Errorf("GET /hub/ logged out: Location %q, want /hub/login", resp.Header.Get("Location"))
		}
	}
	b.login("alice", "alice-pass")
	resp, _ := b.get("/hub/")
	if got := resp.Header.Get("Location"); got != "/hub/home" {
		t.Errorf("GET /hub/ logged in: Location %q, want /hub/home", got)
	}
}

func TestLoginMessages(t *testing.T) {
	tests := []struct {
		name, user, password string
		status               int
		message              string
	}{
		{"wrong password", "alice", "nope", http.StatusForbidden, msgInvalidLogin},
		{"unknown user", "zed", "alice-pass", http.StatusForbidden, msgInvalidLogin},
		{"not in an allowed group", "dave", "dave-pass", http.StatusForbidden, msgNotAllowed},
		{"directory down", "down", "x", http.StatusServiceUnavailable, msgUnavailable},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.browser()
			tok := b.xsrf("/hub/login")
			resp, body := b.post("/hub/login", url.Values{"_xsrf": {tok}, "username": {tt.user}, "password": {tt.password}})
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if !strings.Contains(body, htmlEscape(tt.message)) {
				t.Errorf("page does not say %q:\n%s", tt.message, body)
			}
			if b.cookie(sessionCookie) != "" {
				t.Error("a failed login set a session cookie")
			}
			if !strings.Contains(body, `value="`+tt.user+`"`) {
				t.Error("the form did not keep the user name")
			}
		})
	}
}

// htmlEscape escapes what html/template escapes in the messages.
func htmlEscape(s string) string {
	return strings.NewReplacer("'", "&#39;", `"`, "&#34;").Replace(s)
}

func TestLoginSessionCookie(t *testing.T) {
	e := newEnv(t, withBaseURL("/jupyter/"))
	b := e.browser()
	tok := b.xsrf("/hub/login")
	resp, _ := b.post("/hub/login", url.Values{"_xsrf": {tok}, "username": {"alice"}, "password": {"alice-pass"}})
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/jupyter/hub/home" {
		t.Fatalf("login: %d to %q, want 302 to /jupyter/hub/home", resp.StatusCode, resp.Header.Get("Location"))
	}
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == sessionCookie {
			c = k
		}
	}
	if c == nil {
		t.Fatal("no session cookie set")
	}
	// The hub's path only: requests to users' servers do not carry it.
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/jupyter/hub/" || c.Secure {
		t.Errorf("cookie HttpOnly=%v SameSite=%v Path=%q Secure=%v, want true, Lax, /jupyter/hub/, false (public_url is http)",
			c.HttpOnly, c.SameSite, c.Path, c.Secure)
	}
	if want := 24 * 3600; c.MaxAge != want {
		t.Errorf("cookie MaxAge %d, want the session lifetime %d", c.MaxAge, want)
	}
	// The value is sealed: the session id is not in it.
	if strings.Contains(c.Value, "alice") || len(c.Value) < 60 {
		t.Errorf("cookie value %q does not look sealed", c.Value)
	}
	resp, body := b.get("/hub/home")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "alice") {
		t.Fatalf("home after login: %d\n%s", resp.StatusCode, body)
	}
}

func TestLoginNext(t *testing.T) {
	tests := []struct {
		next, want string
	}{
		{"/hub/spawn", "/hub/spawn"},
		{"/user/alice/tree?x=1", "/user/alice/tree?x=1"},
		{"//evil.example/", "/hub/home"},
		{"https://evil.example/hub/", "/hub/home"},
		{"/\\evil.example", "/hub/home"},
		{"hub/home", "/hub/home"},
		{"/hub/login", "/hub/home"},
		{"", "/hub/home"},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			b := e.browser()
			tok := b.xsrf("/hub/login")
			resp, _ := b.post("/hub/login?next="+url.QueryEscape(tt.next), url.Values{"_xsrf": {tok}, "username": {"alice"}, "password": {"alice-pass"}})
			if got := resp.Header.Get("Location"); got != tt.want {
				t.Errorf("next=%q: redirected to %q, want %q", tt.next, got, tt.want)
			}
		})
	}
	// Under a base URL, a next outside it is refused too.
	e = newEnv(t, withBaseURL("/jh/"))
	if got := e.srv.safeNext("/hub/home"); got != "" {
		t.Errorf("safeNext(/hub/home) under /jh/ = %q, want \"\"", got)
	}
	if got := e.srv.safeNext("/jh/user/alice/"); got != "/jh/user/alice/" {
		t.Errorf("safeNext(/jh/user/alice/) = %q", got)
	}
}

func TestLogoutRevokesSession(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login("alice", "alice-pass")
	stolen := b.cookie(sessionCookie)

	resp, body := b.get("/hub/logout")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Log out") {
		t.Fatalf("GET /hub/logout: %d, want the confirm page", resp.StatusCode)
	}
	if resp, _ := b.post("/hub/logout", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST /hub/logout without _xsrf: %d, want 403", resp.StatusCode)
	}
	tok := reXSRF.FindStringSubmatch(body)[1]
	resp, _ = b.post("/hub/logout", url.Values{"_xsrf": {tok}})
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/hub/login" {
		t.Fatalf("logout: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := b.get("/hub/home"); resp.StatusCode != http.StatusFound {
		t.Errorf("home after logout: %d, want a redirect to login", resp.StatusCode)
	}
	// The cookie from before the logout is dead too: the row is revoked.
	replay := e.browser()
	u, _ := url.Parse(e.url("/"))
	replay.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: stolen, Path: "/"}})
	resp, _ = replay.get("/hub/home")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/hub/login") {
		t.Errorf("replayed cookie after logout: %d to %q, want a redirect to login", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestSessionExpires(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login("alice", "alice-pass")
	e.clock.Add(24*time.Hour + time.Second)
	resp, _ := b.get("/hub/home")
	if resp.StatusCode != http.StatusFound {
		t.Errorf("home after the session lifetime: %d, want a redirect to login", resp.StatusCode)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	try := func(password string) *http.Response {
		tok := b.xsrf("/hub/login")
		resp, _ := b.post("/hub/login", url.Values{"_xsrf": {tok}, "username": {"alice"}, "password": {password}})
		return resp
	}
	for i := 0; i < 5; i++ {
		if resp := try("wrong"); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("attempt %d: %d, want 403", i+1, resp.StatusCode)
		}
	}
	resp := try("alice-pass")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("6th attempt with the right password: %d (Retry-After %q), want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Another user from the same address is not held up.
	other := e.browser()
	other.login("bob", "bob-pass")
	e.clock.Add(time.Minute)
	if resp := try("alice-pass"); resp.StatusCode != http.StatusFound {
		t.Errorf("after the window: %d, want 302", resp.StatusCode)
	}
}

func TestLoginLimiterWindow(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	l := newLoginLimiter(3, time.Minute, clk.Now)
	for i := 0; i < 3; i++ {
		if ok, _ := l.allowed("a", "1.2.3.4"); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
		l.failed("a", "1.2.3.4")
		clk.Add(10 * time.Second)
	}
	ok, wait := l.allowed("a", "1.2.3.4")
	if ok || wait != 30*time.Second {
		t.Fatalf("after 3 failures: allowed=%v wait=%v, want false 30s", ok, wait)
	}
	if ok, _ := l.allowed("a", "5.6.7.8"); !ok {
		t.Error("another address is limited too")
	}
	clk.Add(30 * time.Second)
	if ok, _ := l.allowed("a", "1.2.3.4"); !ok {
		t.Error("still refused once the oldest failure left the window")
	}
	l.succeeded("a", "1.2.3.4")
	if len(l.failures) != 0 {
		t.Errorf("failures kept after success: %v", l.failures)
	}
}
