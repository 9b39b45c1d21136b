package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hpcgate/batch/batchtest"
)

// TestServiceTokenOnEveryReplica: two hubs with one site configuration
// and cookie secret (replicas, as README's "Running two hubs" sets them
// up) each run their own copy of a managed service with no
// api_token_file; the token hub A gave its copy is accepted by hub B, as
// an API token and as the service's OAuth client secret at the token
// exchange — where a load balancer may send the copy's requests.
func TestServiceTokenOnEveryReplica(t *testing.T) {
	c := batchtest.LoadCluster(t)
	var tokenFiles [2]string
	var hubs [2]*hub
	var secret []byte
	for i := range hubs {
		port := freePort(t)
		tokenFiles[i] = filepath.Join(t.TempDir(), "token")
		// The service writes the token it was started with where the test
		// reads it, and waits.
		site := writeSite(t, c, port, fmt.Sprintf(`services:
  - name: board
    command: [/bin/sh, -c, 'printf %%s "$JUPYTERHUB_API_TOKEN" > %s; exec sleep 600']
`, tokenFiles[i]))
		if secret != nil {
			if err := os.WriteFile(filepath.Join(filepath.Dir(site), "cookie_secret"), secret, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		hubs[i] = startHub(t, c, site, port)
		if secret == nil {
			var err error
			if secret, err = os.ReadFile(filepath.Join(filepath.Dir(site), "cookie_secret")); err != nil {
				t.Fatalf("hub A's cookie secret: %v", err)
			}
		}
	}
	var tokens [2]string
	for i, f := range tokenFiles {
		waitFor(t, 10*time.Second, "the managed service to write its token", func() bool {
			b, err := os.ReadFile(f)
			tokens[i] = string(b)
			return err == nil && len(b) > 0
		})
	}
	if tokens[0] != tokens[1] {
		t.Fatal("the two replicas gave their copies of the service different tokens")
	}
	a, b := hubs[0], hubs[1]

	// A's copy's token on B: the service's identity.
	code, body := api(t, b.base, tokens[0], "GET", "/hub/api/user", nil)
	var who struct{ Kind, Name string }
	if code != 200 || json.Unmarshal(body, &who) != nil || who.Kind != "service" || who.Name != "board" {
		t.Fatalf("GET /hub/api/user on B with the token of A's copy: %d %s", code, body)
	}
	// …and its OAuth client secret: B authenticates the client, then
	// judges the (made-up) code, as it would a real one issued on A.
	exchange := func(base, secret string) (int, string) {
		resp, err := http.PostForm(base+"/hub/api/oauth2/token", url.Values{
			"grant_type": {"authorization_code"}, "code": {"no-such-code"},
			"client_id": {"service-board"}, "client_secret": {secret},
			"redirect_uri": {"/services/board/oauth_callback"},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error
	}
	if code, e := exchange(b.base, tokens[0]); code == http.StatusUnauthorized || e == "invalid_client" {
		t.Errorf("B refused the client secret of A's copy at the token exchange: %d %s", code, e)
	}
	if code, e := exchange(a.base, strings.Repeat("0", 64)); code != http.StatusUnauthorized || e != "invalid_client" {
		t.Errorf("a wrong client secret at the token exchange: %d %q, want 401 invalid_client", code, e)
	}
}
