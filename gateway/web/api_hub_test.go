package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestAPIInfo(t *testing.T) {
	e := newEnv(t)
	carol := e.apiToken("carol", TokenUser, 0, time.Time{})
	resp, body := e.api("GET", "/hub/api/info", carol, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	_, keys := keysOf(t, body)
	if want := []string{"authenticator", "hpcgate", "python", "spawner", "sys_executable", "version"}; !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	alice := e.apiToken("alice", TokenUser, 0, time.Time{})
	if resp, _ := e.api("GET", "/hub/api/info", alice, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("alice: %d, want 403", resp.StatusCode)
	}
}

func TestAPIProxyTable(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	a, b, q := ready("alice", now), ready("bob", now), queued("dave", now)
	a.Host, a.Port = "10.0.0.5", 40001
	b.Host, b.Port = "10.0.0.6", 40002
	e.serverIs(a, b, q)
	carol := e.apiToken("carol", TokenUser, 0, time.Time{})
	resp, body := e.api("GET", "/hub/api/proxy", carol, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var routes map[string]route
	if err := json.Unmarshal([]byte(body), &routes); err != nil {
		t.Fatal(err)
	}
	if len(routes) != 3 || routes["/"].Data["hub"] != true || routes["/user/alice/"].Target != "http://10.0.0.5:40001" ||
		routes["/user/bob/"].Data["user"] != "bob" || routes["/user/bob/"].Data["server_name"] != "" {
		t.Errorf("routes %s", body)
	}
	// Paginated on request: routes sorted by spec.
	resp, body = e.browser().do("GET", "/hub/api/proxy?offset=1&limit=1", nil, http.Header{
		"Authorization": {"token " + carol}, "Accept": {paginationType}})
	var page struct {
		Items      map[string]route `json:"items"`
		Pagination struct {
			Total int
			Next  *struct{ Offset int }
		} `json:"_pagination"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v %s", resp.StatusCode, err, body)
	}
	if _, ok := page.Items["/user/alice/"]; !ok || len(page.Items) != 1 || page.Pagination.Total != 3 || page.Pagination.Next == nil || page.Pagination.Next.Offset != 2 {
		t.Errorf("page %s", body)
	}
}

func TestAPITokenLookup(t *testing.T) {
	e := newEnv(t)
	e.serverIs(ready("alice", e.clock.Now()))
	alice := e.apiToken("alice", TokenUser, 0, time.Time{})
	server := e.serverToken("bob")
	carol := e.apiToken("carol", TokenUser, 0, time.Time{})
	expired := e.apiToken("alice", TokenUser, 0, e.clock.Now().Add(-time.Minute))

	// A server's token (a HubAuth service would hold one) identifies
	// alice: her name, admin flag and groups, nothing more.
	resp, body := e.api("GET", "/hub/api/authorizations/token/"+alice, server, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	m, keys := keysOf(t, body)
	if string(m["name"]) != `"alice"` || !slices.Equal(keys, []string{"admin", "groups", "kind", "name"}) {
		t.Errorf("server token looking up alice's: %s", body)
	}
	// An admin's token reads the whole model.
	_, body = e.api("GET", "/hub/api/authorizations/token/"+alice, carol, "")
	if _, keys := keysOf(t, body); !slices.Contains(keys, "servers") || !slices.Contains(keys, "last_activity") {
		t.Errorf("admin looking up alice's token: %s", body)
	}
	for _, tok := range []string{expired, "no-such-token", "x"} {
		if resp, body := e.api("GET", "/hub/api/authorizations/token/"+tok, carol, ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("lookup of %q: %d %s, want 404", tok, resp.StatusCode, body)
		}
	}
	if resp, _ := e.api("GET", "/hub/api/authorizations/token/"+alice, "", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("without a token: %d, want 403", resp.StatusCode)
	}
}
