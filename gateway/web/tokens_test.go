package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTokensAPI(t *testing.T) {
	e := newEnv(t)
	alice := e.apiToken("alice", TokenUser, 0, time.Time{})
	bob := e.apiToken("bob", TokenUser, 0, time.Time{})

	resp, body := e.api("POST", "/hub/api/users/alice/tokens", alice, `{"note": "ci", "expires_in": 3600}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	var created tokenModel
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	if created.Token == "" || created.Note != "ci" || created.ExpiresAt == nil ||
		!created.ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) || created.User != "alice" {
		t.Errorf("created %+v", created)
	}
	// The new token works, and is a user's API token.
	if resp, _ := e.api("GET", "/hub/api/users/alice", created.Token, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("new token: %d", resp.StatusCode)
	}
	// Listed without its plain text.
	resp, body = e.api("GET", "/hub/api/users/alice/tokens", alice, "")
	if resp.StatusCode != http.StatusOK || strings.Contains(body, created.Token) || !strings.Contains(body, `"note":"ci"`) {
		t.Errorf("list: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.api("GET", "/hub/api/users/alice/tokens/"+created.ID, alice, ""); resp.StatusCode != http.StatusOK || strings.Contains(body, created.Token) {
		t.Errorf("get: %d %s", resp.StatusCode, body)
	}
	// bob can neither see nor delete alice's tokens.
	for _, m := range []string{"GET", "DELETE"} {
		if resp, _ := e.api(m, "/hub/api/users/alice/tokens/"+created.ID, bob, ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s alice's token as bob: %d, want 404", m, resp.StatusCode)
		}
	}
	if resp, _ := e.api("DELETE", "/hub/api/users/alice/tokens/"+created.ID, alice, ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("delete: %d", resp.StatusCode)
	}
	if resp, _ := e.api("GET", "/hub/api/users/alice", created.Token, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("deleted token still works: %d", resp.StatusCode)
	}
	if resp, _ := e.api("DELETE", "/hub/api/users/alice/tokens/"+created.ID, alice, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("delete twice: %d, want 404", resp.StatusCode)
	}
	if resp, _ := e.api("POST", "/hub/api/users/alice/tokens", alice, `{"note": "`+strings.Repeat("x", 300)+`"}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a 300-character note: %d, want 400", resp.StatusCode)
	}
}

func TestTokenPage(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login("alice", "alice-pass")
	tok := b.xsrf("/hub/token")
	resp, body := b.post("/hub/token", url.Values{"_xsrf": {tok}, "note": {"laptop"}, "expires_in": {"86400"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	m := regexp.MustCompile(`id="new-token" type="text" readonly value="([0-9a-f]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the new token is not shown:\n%s", body)
	}
	if resp, _ := e.api("GET", "/hub/api/user", m[1], ""); resp.StatusCode != http.StatusOK {
		t.Errorf("the shown token does not work: %d", resp.StatusCode)
	}
	// Shown once: the page does not show it again.
	_, body = b.get("/hub/token")
	if strings.Contains(body, m[1]) || !strings.Contains(body, "laptop") {
		t.Errorf("token page after creation shows the token again, or lacks its note")
	}
	id := regexp.MustCompile(`action="/hub/token/([0-9]+)/revoke"`).FindStringSubmatch(body)
	if id == nil {
		t.Fatal("no revoke button")
	}
	resp, _ = b.post("/hub/token/"+id[1]+"/revoke", url.Values{"_xsrf": {tok}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("revoke: %d", resp.StatusCode)
	}
	if resp, _ := e.api("GET", "/hub/api/user", m[1], ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("revoked token: %d, want 403", resp.StatusCode)
	}
	// bob cannot revoke alice's tokens by id.
	other := e.apiToken("alice", TokenUser, 0, time.Time{})
	bob := e.browser()
	bob.login("bob", "bob-pass")
	btok := bob.xsrf("/hub/token")
	for tid := 1; tid <= 3; tid++ {
		if resp, _ := bob.post("/hub/token/"+strconv.Itoa(tid)+"/revoke", url.Values{"_xsrf": {btok}}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("bob revoking token %d: %d, want 404", tid, resp.StatusCode)
		}
	}
	if resp, _ := e.api("GET", "/hub/api/user", other, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("alice's other token after bob's attempts: %d", resp.StatusCode)
	}
}
