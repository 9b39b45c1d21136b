package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A script in a user's server runs on the hub's own origin, in the browser
// of whoever opens the server. What a browser sends for such a script's
// fetch (Sec-Fetch-Mode: cors, same-origin or no-cors; the script cannot
// change it) must get no synchronizer token from any hub page, and no
// form of the hub may be sent by it even with a good token: otherwise the
// server's owner acts as its visitor (TestHostileAppVisitor in
// cmd/hpcgate shows it in Chromium: an admin's API token taken).
func TestScriptsGetNoXSRF(t *testing.T) {
	e := newEnv(t)
	carol := e.browser()
	carol.login("carol", "carol-pass")
	for _, page := range []string{"/hub/home", "/hub/token", "/hub/spawn", "/hub/admin", "/hub/admin/stop-all", "/hub/logout", "/hub/spawn-pending/nobody"} {
		for _, mode := range []string{"cors", "same-origin", "no-cors", "websocket"} {
			resp, body := carol.do("GET", page, nil, http.Header{"Sec-Fetch-Mode": {mode}, "Sec-Fetch-Site": {"same-origin"}})
			if reXSRF.MatchString(body) || strings.Contains(body, "data-xsrf=") {
				t.Errorf("GET %s by a script (Sec-Fetch-Mode %s): %d, the page holds the session's XSRF token", page, mode, resp.StatusCode)
			}
			// A logged-in page is not shown to a script at all: the
			// admin page lists every user and job.
			if page != "/hub/logout" && (resp.StatusCode != http.StatusFound || strings.Contains(body, "carol")) {
				t.Errorf("GET %s by a script (Sec-Fetch-Mode %s): %d, want the login redirect and nothing of carol's", page, mode, resp.StatusCode)
			}
		}
	}
	// A navigation still gets it: the hub's own forms and scripts need it.
	for _, mode := range []string{"navigate", ""} {
		h := http.Header{}
		if mode != "" {
			h.Set("Sec-Fetch-Mode", mode)
		}
		if _, body := carol.do("GET", "/hub/token", nil, h); !reXSRF.MatchString(body) {
			t.Errorf("GET /hub/token as a navigation (Sec-Fetch-Mode %q) has no XSRF token", mode)
		}
	}

	good := carol.xsrf("/hub/token")
	before, _ := e.store.ListTokens(t.Context(), "carol")
	form := url.Values{"_xsrf": {good}, "note": {"from a script"}, "expires_in": {"3600"}}
	for _, mode := range []string{"cors", "same-origin", "no-cors"} {
		resp, body := carol.do("POST", "/hub/token", strings.NewReader(form.Encode()), http.Header{
			"Content-Type":   {"application/x-www-form-urlencoded"},
			"Origin":         {e.ts.URL},
			"Sec-Fetch-Mode": {mode},
			"Sec-Fetch-Site": {"same-origin"},
		})
		if resp.StatusCode == http.StatusOK || strings.Contains(body, `id="new-token"`) {
			t.Errorf("POST /hub/token by a script (Sec-Fetch-Mode %s) with a good token: %d, want a refusal and no token", mode, resp.StatusCode)
		}
	}
	if after, _ := e.store.ListTokens(t.Context(), "carol"); len(after) != len(before) {
		t.Errorf("carol had %d tokens before the scripts' posts and %d after", len(before), len(after))
	}
	// The same form sent by the browser itself (a navigation) works.
	resp, body := carol.do("POST", "/hub/token", strings.NewReader(form.Encode()), http.Header{
		"Content-Type":   {"application/x-www-form-urlencoded"},
		"Origin":         {e.ts.URL},
		"Sec-Fetch-Mode": {"navigate"},
	})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="new-token"`) {
		t.Errorf("POST /hub/token as a navigation: %d, want 200 with the new token", resp.StatusCode)
	}
}

// The API answers a script that brings the session cookie (a script in a
// user's server, in its visitor's browser) as it answers anyone without
// credentials, unless the script has the session's XSRF token, which only
// the hub's own pages hold. Clients without Sec-Fetch headers and the
// hub's own scripts (the token in X-XSRFToken, or _xsrf for an
// EventSource) are served as before.
func TestScriptsNeedXSRFForTheAPI(t *testing.T) {
	e := newEnv(t, withAdminAccess())
	carol := e.browser()
	carol.login("carol", "carol-pass")
	good := carol.xsrf("/hub/token")
	script := func(extra http.Header) http.Header {
		h := http.Header{"Sec-Fetch-Mode": {"cors"}, "Sec-Fetch-Site": {"same-origin"}, "Accept": {"application/json"}}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	tests := []struct {
		name, path string
		header     http.Header
		status     int
	}{
		{"script, no token", "/hub/api/users", script(nil), http.StatusForbidden},
		{"script, wrong token", "/hub/api/users", script(http.Header{"X-Xsrftoken": {"AAAA" + good[4:]}}), http.StatusForbidden},
		{"script, own user", "/hub/api/users/carol", script(nil), http.StatusForbidden},
		{"script, hub's token in the header", "/hub/api/users", script(http.Header{"X-Xsrftoken": {good}}), http.StatusOK},
		{"script, hub's token in the query", "/hub/api/users?_xsrf=" + url.QueryEscape(good), script(nil), http.StatusOK},
		{"no Sec-Fetch headers", "/hub/api/users", http.Header{"Accept": {"application/json"}}, http.StatusOK},
		{"navigation", "/hub/api/users", http.Header{"Sec-Fetch-Mode": {"navigate"}, "Accept": {"application/json"}}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := carol.do("GET", tt.path, nil, tt.header)
			if resp.StatusCode != tt.status {
				t.Errorf("GET %s: %d, want %d\n%.300s", tt.path, resp.StatusCode, tt.status, body)
			}
		})
	}

	// A script asking for an OAuth code for alice's server (an admin may
	// open it) gets none: the browser's own navigation does.
	q := url.Values{"client_id": {"jupyterhub-user-alice"}, "redirect_uri": {"/user/alice/oauth_callback"}, "response_type": {"code"}}
	resp, _ := carol.do("GET", "/hub/api/oauth2/authorize?"+q.Encode(), nil, script(nil))
	if loc := resp.Header.Get("Location"); strings.Contains(loc, "code=") {
		t.Errorf("a script's authorize with carol's cookie got a code: %d %s", resp.StatusCode, loc)
	}
	// Her navigation (a frame's too: Sec-Fetch-Dest does not change
	// Sec-Fetch-Mode) gets the hub's question first, not a code: a
	// page of another user's server could frame or open this URL. The
	// answer sent by a script is refused; sent by the browser, it
	// gives the code.
	for _, dest := range []string{"document", "iframe"} {
		resp, body := carol.do("GET", "/hub/api/oauth2/authorize?"+q.Encode(), nil, http.Header{"Sec-Fetch-Mode": {"navigate"}, "Sec-Fetch-Dest": {dest}})
		if loc := resp.Header.Get("Location"); strings.Contains(loc, "code=") || !strings.Contains(body, "You are opening the server of <strong>alice</strong>") {
			t.Errorf("carol's navigation (%s) to authorize: %d %s, want the confirmation page", dest, resp.StatusCode, loc)
		}
	}
	form := url.Values{"_xsrf": {carol.xsrf("/hub/token")}}
	for k, v := range q {
		form[k] = v
	}
	resp, _ = carol.do("POST", "/hub/api/oauth2/authorize", strings.NewReader(form.Encode()), script(http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {e.ts.URL}}))
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusForbidden || strings.Contains(loc, "code=") {
		t.Errorf("the confirmation sent by a script: %d %s, want 403", resp.StatusCode, loc)
	}
	resp, _ = carol.post("/hub/api/oauth2/authorize", form)
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "code=") {
		t.Errorf("the confirmation sent by carol's browser: %d %s, want a code", resp.StatusCode, loc)
	}
}
