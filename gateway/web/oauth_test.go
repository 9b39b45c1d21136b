package web

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// authorizeURL is where jupyterhub-singleuser sends the browser.
func authorizeURL(user, state string) string {
	q := url.Values{
		"client_id":     {"jupyterhub-user-" + user},
		"redirect_uri":  {"/user/" + user + "/oauth_callback"},
		"response_type": {"code"},
		"state":         {state},
	}
	return "/hub/api/oauth2/authorize?" + q.Encode()
}

// exchange is the single-user server's POST to /hub/api/oauth2/token.
func (e *env) exchange(clientID, secret, code, redirectURI string) (*http.Response, map[string]any) {
	e.t.Helper()
	form := url.Values{"client_id": {clientID}, "client_secret": {secret}, "grant_type": {"authorization_code"},
		"code": {code}, "redirect_uri": {redirectURI}}
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"},
		"Authorization": {"token " + secret}}
	resp, body := e.browser().do("POST", "/hub/api/oauth2/token", strings.NewReader(form.Encode()), h)
	var v map[string]any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		e.t.Fatalf("token endpoint answered %d with non-JSON %q", resp.StatusCode, body)
	}
	return resp, v
}

// authorize runs the browser's half and returns the code.
func authorize(t *testing.T, b *browser, user, state string) string {
	t.Helper()
	resp, body := b.get(authorizeURL(user, state))
	if resp.StatusCode == http.StatusOK && strings.Contains(body, `action="/hub/api/oauth2/authorize"`) {
		// Someone else's server: the hub asks first; confirm as the
		// browser would.
		form := url.Values{}
		for _, m := range reHidden.FindAllStringSubmatch(body, -1) {
			form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
		}
		resp, body = b.post("/hub/api/oauth2/authorize", form)
	}
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d, want 302\n%s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if loc.Path != "/user/"+user+"/oauth_callback" || loc.Host != "" {
		t.Fatalf("authorize redirected to %s, want /user/%s/oauth_callback", loc, user)
	}
	if got := loc.Query().Get("state"); got != state {
		t.Fatalf("state came back as %q, want %q verbatim", got, state)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatal("no code in the redirect")
	}
	return code
}

var reHidden = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

func TestOAuthFlow(t *testing.T) {
	e := newEnv(t)
	secret := e.serverToken("alice")
	bobSecret := e.serverToken("bob")
	aliceAPI := e.apiToken("alice", TokenUser, 0, time.Time{})
	const client, callback = "jupyterhub-user-alice", "/user/alice/oauth_callback"
	// The singleuser's state: urlsafe base64 of JSON, unpadded.
	state := "eyJ1dWlkIjogIjEyMyIsICJuZXh0X3VybCI6ICIvdXNlci9hbGljZS90cmVlIn0"

	// Not logged in: to the login page, and back here afterwards.
	b := e.browser()
	resp, _ := b.get(authorizeURL("alice", state))
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/hub/login?next=") {
		t.Fatalf("authorize logged out: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	next, _ := url.Parse(resp.Header.Get("Location"))
	if got := next.Query().Get("next"); got != authorizeURL("alice", state) {
		t.Errorf("next = %q, want the authorize URL", got)
	}

	b.login("alice", "alice-pass")
	code := authorize(t, b, "alice", state)

	// Wrong client secrets: alice's own API token, bob's server token,
	// nonsense. None consumes the code.
	for name, bad := range map[string]string{"alice's API token": aliceAPI, "bob's server token": bobSecret, "nonsense": "xyz"} {
		resp, v := e.exchange(client, bad, code, callback)
		if resp.StatusCode != http.StatusUnauthorized || v["error"] != "invalid_client" {
			t.Errorf("client_secret = %s: %d %v, want 401 invalid_client", name, resp.StatusCode, v)
		}
	}
	// The code is for alice's client, not bob's.
	if resp, v := e.exchange("jupyterhub-user-bob", bobSecret, code, "/user/bob/oauth_callback"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("alice's code at bob's client: %d %v, want 400", resp.StatusCode, v)
	}
	code = authorize(t, b, "alice", state) // that attempt used it up
	resp, v := e.exchange(client, secret, code, callback)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %d %v", resp.StatusCode, v)
	}
	access, _ := v["access_token"].(string)
	if access == "" || v["token_type"] != "Bearer" || v["expires_in"].(float64) <= 0 ||
		v["scope"] != "access:servers!server=alice/ access:servers!user=alice" {
		t.Errorf("token response %v", v)
	}
	// A code works once.
	if resp, v := e.exchange(client, secret, code, callback); resp.StatusCode != http.StatusBadRequest || v["error"] != "invalid_grant" {
		t.Errorf("code reused: %d %v, want 400 invalid_grant", resp.StatusCode, v)
	}

	// The access token identifies alice, with her server's access scope
	// and the session it came from.
	resp, body := e.api("GET", "/hub/api/user", access, "")
	var m selfModel
	if err := json.Unmarshal([]byte(body), &m); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("user for the access token: %d %s", resp.StatusCode, body)
	}
	if m.Name != "alice" || !slices.Contains(m.Scopes, "access:servers!server=alice/") || m.SessionID == nil {
		t.Errorf("model %+v", m)
	}
	// ...and is no key to the REST API.
	if resp, _ := e.api("GET", "/hub/api/users/alice", access, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("REST API with an OAuth token: %d, want 403", resp.StatusCode)
	}

	// Logging out revokes it.
	tok := b.xsrf("/hub/logout")
	b.post("/hub/logout", url.Values{"_xsrf": {tok}})
	if resp, _ := e.api("GET", "/hub/api/user", access, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("access token after logout: %d, want 403", resp.StatusCode)
	}
}

func TestOAuthCodeExpires(t *testing.T) {
	e := newEnv(t)
	secret := e.serverToken("alice")
	b := e.browser()
	b.login("alice", "alice-pass")
	code := authorize(t, b, "alice", "s")
	e.clock.Add(5*time.Minute + time.Second)
	resp, v := e.exchange("jupyterhub-user-alice", secret, code, "/user/alice/oauth_callback")
	if resp.StatusCode != http.StatusBadRequest || v["error"] != "invalid_grant" {
		t.Errorf("expired code: %d %v, want 400 invalid_grant", resp.StatusCode, v)
	}
}

func TestOAuthAuthorizeRefusals(t *testing.T) {
	tests := []struct {
		name, user, query string
		adminAccess       bool
		status            int
	}{
		{"another user's server", "bob", authorizeURL("alice", "s"), false, http.StatusForbidden},
		{"admin without admin_access", "carol", authorizeURL("alice", "s"), false, http.StatusForbidden},
		{"admin with admin_access is asked first", "carol", authorizeURL("alice", "s"), true, http.StatusOK},
		{"foreign redirect_uri", "alice", "/hub/api/oauth2/authorize?client_id=jupyterhub-user-alice&response_type=code&redirect_uri=https://evil.example/cb", false, http.StatusBadRequest},
		{"another server's callback", "alice", "/hub/api/oauth2/authorize?client_id=jupyterhub-user-alice&response_type=code&redirect_uri=/user/bob/oauth_callback", false, http.StatusBadRequest},
		{"unknown client", "alice", "/hub/api/oauth2/authorize?client_id=service-x&response_type=code", false, http.StatusBadRequest},
		{"token response type", "alice", "/hub/api/oauth2/authorize?client_id=jupyterhub-user-alice&response_type=token&redirect_uri=/user/alice/oauth_callback", false, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []envOption
			if tt.adminAccess {
				opts = append(opts, withAdminAccess())
			}
			e := newEnv(t, opts...)
			b := e.browser()
			b.login(tt.user, tt.user+"-pass")
			resp, body := b.get(tt.query)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d\n%s", resp.StatusCode, tt.status, body)
			}
		})
	}
}

func TestOAuthUnderBaseURL(t *testing.T) {
	e := newEnv(t, withBaseURL("/jh/"))
	secret := e.serverToken("alice")
	b := e.browser()
	b.login("alice", "alice-pass")
	q := url.Values{"client_id": {"jupyterhub-user-alice"}, "redirect_uri": {"/jh/user/alice/oauth_callback"},
		"response_type": {"code"}, "state": {"x"}}
	resp, _ := b.get("/hub/api/oauth2/authorize?" + q.Encode())
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Path != "/jh/user/alice/oauth_callback" {
		t.Fatalf("authorize under /jh/: %d to %s", resp.StatusCode, loc)
	}
	if resp, v := e.exchange("jupyterhub-user-alice", secret, loc.Query().Get("code"), "/jh/user/alice/oauth_callback"); resp.StatusCode != http.StatusOK {
		t.Errorf("exchange under /jh/: %d %v", resp.StatusCode, v)
	}
}
