package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"hpcgate/gateway"
)

// Two services: "whoami" (managed, no confirmation, everyone) and "admins"
// (external, a confirmation page, hpc-admins only), with API tokens.
const testServices = `  - name: whoami
    url: http://127.0.0.1:10101
    command: [/usr/bin/python3, /srv/whoami.py]
    oauth_no_confirm: true
    scopes: [list:users, "read:services!service", "read:users!user"]
    info: {purpose: tests}
  - name: admins
    url: http://127.0.0.1:10102
    allowed_groups: ["` + groupAdmins + `"]
    oauth_client_allowed_scopes: ["read:users!user"]
`

const whoamiToken, adminsToken = "whoami-token-0123456789", "admins-token-0123456789"

func servicesEnv(t *testing.T) *env {
	e := newEnv(t, withServices(testServices, map[string]ServiceRuntime{
		"whoami": {Token: whoamiToken, PID: func() int { return 4321 }},
		"admins": {Token: adminsToken},
	}))
	e.serverIs()
	return e
}

func modelKeys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestServiceToken: a service's token identifies the service, with
// JupyterHub 3.0's service model, and does what its scopes say.
func TestServiceToken(t *testing.T) {
	e := servicesEnv(t)
	resp, body := e.api("GET", "/hub/api/user", whoamiToken, "")
	var m map[string]any
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &m) != nil {
		t.Fatalf("GET /hub/api/user with a service token: %d %s", resp.StatusCode, body)
	}
	want := []string{"admin", "command", "display", "info", "kind", "name", "pid", "prefix", "scopes", "session_id", "url"}
	if got := modelKeys(m); !reflect.DeepEqual(got, want) {
		t.Errorf("service model keys %v, want %v", got, want)
	}
	if m["kind"] != "service" || m["name"] != "whoami" || m["pid"] != 4321.0 || m["prefix"] != "/services/whoami/" || m["session_id"] != nil {
		t.Errorf("service model: %s", body)
	}
	// "!service" means this one; "!user" means nobody for a service.
	scopes, _ := json.Marshal(m["scopes"])
	wantScopes := `["list:users","read:services!service=whoami","read:services:name!service=whoami","read:users:name"]`
	if string(scopes) != wantScopes {
		t.Errorf("scopes %s, want %s", scopes, wantScopes)
	}

	// The other service's token reads only its own name.
	_, body = e.api("GET", "/hub/api/user", adminsToken, "")
	m = nil
	json.Unmarshal([]byte(body), &m)
	if got := modelKeys(m); !reflect.DeepEqual(got, []string{"admin", "kind", "name", "scopes", "session_id"}) {
		t.Errorf("identify-only service model keys %v: %s", got, body)
	}

	for _, tc := range []struct {
		token, path string
		want        int
	}{
		{whoamiToken, "/hub/api/users", 200},
		{whoamiToken, "/hub/api/users/alice", 403},
		{whoamiToken, "/hub/api/services/whoami", 200},
		{whoamiToken, "/hub/api/services/admins", 404},
		{whoamiToken, "/hub/api/services", 403},
		{adminsToken, "/hub/api/users", 403},
		// A token without scopes reads its own model only at
		// /hub/api/user, as in JupyterHub 3.0 (identify_scopes are
		// added by SelfAPIHandler, not held by the token).
		{adminsToken, "/hub/api/services/admins", 403},
		{"not-a-token", "/hub/api/user", 403},
	} {
		if resp, body := e.api("GET", tc.path, tc.token, ""); resp.StatusCode != tc.want {
			t.Errorf("GET %s with %.6s…: %d, want %d\n%s", tc.path, tc.token, resp.StatusCode, tc.want, body)
		}
	}
}

// TestServicesAPI: the admin's view of the services, as JupyterHub 3.0's.
func TestServicesAPI(t *testing.T) {
	e := servicesEnv(t)
	tok := e.apiToken("carol", gateway.TokenAPI, 0, time.Time{})
	resp, body := e.api("GET", "/hub/api/services", tok, "")
	var all map[string]map[string]any
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &all) != nil {
		t.Fatalf("GET /hub/api/services: %d %s", resp.StatusCode, body)
	}
	if len(all) != 2 {
		t.Fatalf("services: %s", body)
	}
	w := all["whoami"]
	wantKeys := []string{"admin", "command", "display", "info", "kind", "name", "pid", "prefix", "roles", "url"}
	if got := modelKeys(w); !reflect.DeepEqual(got, wantKeys) {
		t.Errorf("keys %v, want %v", got, wantKeys)
	}
	if w["url"] != "http://127.0.0.1:10101" || w["display"] != true || !reflect.DeepEqual(w["info"], map[string]any{"purpose": "tests"}) ||
		!reflect.DeepEqual(w["command"], []any{"/usr/bin/python3", "/srv/whoami.py"}) {
		t.Errorf("whoami: %v", w)
	}
	if a := all["admins"]; a["command"] != "" || a["pid"] != 0.0 {
		t.Errorf("an external service has command \"\" and pid 0, as in JupyterHub: %v", a)
	}
	if resp, _ := e.api("GET", "/hub/api/services/nosuch", tok, ""); resp.StatusCode != 404 {
		t.Errorf("an unknown service: %d, want 404", resp.StatusCode)
	}
	alice := e.apiToken("alice", gateway.TokenAPI, 0, time.Time{})
	if resp, _ := e.api("GET", "/hub/api/services", alice, ""); resp.StatusCode != 403 {
		t.Errorf("a user lists services: %d, want 403 (list:services is the admin role's)", resp.StatusCode)
	}
}

// authorizeService starts the OAuth flow of client as the logged-in browser.
func authorizeService(b *browser, client, redirect string) (*http.Response, string) {
	return b.get("/hub/api/oauth2/authorize?" + url.Values{"client_id": {client}, "redirect_uri": {redirect},
		"response_type": {"code"}, "state": {"st"}}.Encode())
}

// exchange swaps code for a token as the service's client.
func exchange(e *env, client, secret, code string) (*http.Response, map[string]any) {
	name := strings.TrimPrefix(client, "service-")
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {client}, "client_secret": {secret},
		"code": {code}, "redirect_uri": {"/services/" + name + "/oauth_callback"}}
	resp, body := e.browser().do("POST", "/hub/api/oauth2/token", strings.NewReader(form.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	var m map[string]any
	json.Unmarshal([]byte(body), &m)
	return resp, m
}

// TestServiceOAuth: a service logs a user in through the hub's OAuth; the
// token opens that service and identifies the user, and nothing else.
func TestServiceOAuth(t *testing.T) {
	e := servicesEnv(t)
	alice := e.browser()
	alice.login("alice", directory["alice"].password)

	if resp, _ := authorizeService(alice, "service-whoami", "/services/other/oauth_callback"); resp.StatusCode != 400 {
		t.Errorf("a foreign redirect_uri: %d, want 400", resp.StatusCode)
	}
	resp, _ := authorizeService(alice, "service-whoami", "/services/whoami/oauth_callback")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || loc.Path != "/services/whoami/oauth_callback" || loc.Query().Get("state") != "st" {
		t.Fatalf("authorize: %d → %s", resp.StatusCode, loc)
	}
	code := loc.Query().Get("code")
	// Another client's secret (a service's or a server's) does not swap it.
	if r, _ := exchange(e, "service-whoami", adminsToken, code); r.StatusCode != 401 {
		t.Errorf("another service's secret: %d, want 401", r.StatusCode)
	}
	if r, _ := exchange(e, "service-whoami", e.serverToken("alice"), code); r.StatusCode != 401 {
		t.Errorf("a server's token as the secret: %d, want 401", r.StatusCode)
	}
	r, tok := exchange(e, "service-whoami", whoamiToken, code)
	if r.StatusCode != 200 || tok["scope"] != "access:services!service=whoami" {
		t.Fatalf("exchange: %d %v", r.StatusCode, tok)
	}
	access := tok["access_token"].(string)
	resp, body := e.api("GET", "/hub/api/user", access, "")
	var m map[string]any
	json.Unmarshal([]byte(body), &m)
	scopes, _ := json.Marshal(m["scopes"])
	if m["name"] != "alice" || m["kind"] != "user" ||
		string(scopes) != `["access:services!service=whoami","read:users:groups!user=alice","read:users:name!user=alice"]` {
		t.Errorf("the service's token for alice: %d %s", resp.StatusCode, body)
	}
	for _, path := range []string{"/hub/api/users/alice", "/hub/api/users/alice/tokens", "/hub/api/services"} {
		if resp, _ := e.api("GET", path, access, ""); resp.StatusCode != 403 {
			t.Errorf("the service's token for alice on %s: %d, want 403", path, resp.StatusCode)
		}
	}
	if resp, _ := e.api("GET", "/hub/api/user", access, ""); resp.StatusCode != 200 {
		t.Errorf("the token is good for /hub/api/user: %d", resp.StatusCode)
	}
	// Logging out ends the token, as for servers' OAuth tokens.
	alice.post("/hub/logout", url.Values{"_xsrf": {alice.xsrf("/hub/token")}})
	if resp, _ := e.api("GET", "/hub/api/user", access, ""); resp.StatusCode != 403 {
		t.Errorf("after logout the service's token answers %d, want 403", resp.StatusCode)
	}
}

// TestServiceOAuthConfirmAndGroups: without oauth_no_confirm the user
// confirms on the hub's page; allowed_groups keeps others out; the
// allowed scopes go into the token within the user's rights.
func TestServiceOAuthConfirmAndGroups(t *testing.T) {
	e := servicesEnv(t)
	alice := e.browser()
	alice.login("alice", directory["alice"].password)
	if resp, body := authorizeService(alice, "service-admins", "/services/admins/oauth_callback"); resp.StatusCode != 403 ||
		!strings.Contains(body, "permission to access the service admins") {
		t.Errorf("alice, not in the allowed group: %d", resp.StatusCode)
	}
	carol := e.browser()
	carol.login("carol", directory["carol"].password)
	resp, page := authorizeService(carol, "service-admins", "/services/admins/oauth_callback")
	if resp.StatusCode != 200 || !strings.Contains(page, "Authorize access") || !strings.Contains(page, "read:users!user") {
		t.Fatalf("confirmation page: %d\n%s", resp.StatusCode, page)
	}
	// Without the page's _xsrf the confirmation is refused.
	form := url.Values{"client_id": {"service-admins"}, "redirect_uri": {"/services/admins/oauth_callback"}, "state": {"st"}}
	if resp, _ := carol.post("/hub/api/oauth2/authorize", form); resp.StatusCode != 403 {
		t.Errorf("confirming without _xsrf: %d, want 403", resp.StatusCode)
	}
	form.Set("_xsrf", carol.xsrf("/hub/token"))
	resp, _ = carol.post("/hub/api/oauth2/authorize", form)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || loc.Path != "/services/admins/oauth_callback" {
		t.Fatalf("confirming: %d → %s", resp.StatusCode, loc)
	}
	r, tok := exchange(e, "service-admins", adminsToken, loc.Query().Get("code"))
	if r.StatusCode != 200 || tok["scope"] != "access:services!service=admins read:users!user" {
		t.Fatalf("exchange: %d %v", r.StatusCode, tok)
	}
	_, body := e.api("GET", "/hub/api/users/carol", tok["access_token"].(string), "")
	if !strings.Contains(body, `"name":"carol"`) {
		t.Errorf("read:users!user lets the token read carol: %s", body)
	}
	if resp, _ := e.api("GET", "/hub/api/users/alice", tok["access_token"].(string), ""); resp.StatusCode != 404 {
		t.Errorf("…and no one else (even for an admin): %d, want 404", resp.StatusCode)
	}
}
