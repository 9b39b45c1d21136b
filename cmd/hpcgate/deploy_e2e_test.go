package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hpcgate/batch/batchtest"
)

// TestSpawnLoginNodeDown: a login node that refuses connections (sshd
// down, a wrong port) fails the spawn saying so, not as a refusal by the
// scheduler, which never saw the job.
func TestSpawnLoginNodeDown(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	site := siteFor(t, c, port)
	closed := freePort(t)
	// The login node's own key, listed for the closed port too, so the
	// site passes check-config -files and the failure is the connection's.
	kh, err := os.ReadFile(c.Get(t, "SSH_KNOWN_HOSTS"))
	if err != nil {
		t.Fatal(err)
	}
	khFile := filepath.Join(t.TempDir(), "known_hosts")
	both := string(kh) + strings.ReplaceAll(string(kh), "]:2222 ", fmt.Sprintf("]:%d ", closed))
	if err := os.WriteFile(khFile, []byte(both), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "port: 2222", fmt.Sprintf("port: %d", closed), 1)
	s = strings.Replace(s, "known_hosts: "+c.Get(t, "SSH_KNOWN_HOSTS"), "known_hosts: "+khFile, 1)
	os.WriteFile(site, []byte(s), 0o600)

	h := startHub(t, c, site, port)
	tok := newToken(t, site, "alice")
	if code, body := api(t, h.base, tok, "POST", "/hub/api/users/alice/server", map[string]string{"profile": "small"}); code != 202 {
		t.Fatalf("spawn: %d %s", code, body)
	}
	events := followEvents(t, h.base, tok, "alice", 60*time.Second, true, func(ev progressEvent) bool { return ev.Failed })
	reason := events[len(events)-1].Reason
	if !strings.HasPrefix(reason, "The job could not be submitted: ") || !strings.Contains(reason, "connection refused") ||
		strings.Contains(reason, "scheduler refused") {
		t.Errorf("reason %q: want one saying the job could not be submitted because the login node refused the connection", reason)
	}
}

// TestAppSeesTLSBehindTrustedProxy: behind a TLS terminator named in
// hub.trusted_proxies, the notebook is told the browser's scheme
// (X-Forwarded-Proto: https), so the cookie that logs the user in to it is
// Secure and never goes out over plain HTTP; with no trusted proxy the
// header is the hub's own view, and a client cannot claim https.
func TestAppSeesTLSBehindTrustedProxy(t *testing.T) {
	c := batchtest.LoadCluster(t)
	for _, tc := range []struct {
		name, extra string
		secure      bool
	}{
		{"trusted proxy", "  trusted_proxies: [127.0.0.1]\n", true},
		{"no trusted proxy", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			site := siteFor(t, c, port)
			b, err := os.ReadFile(site)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(site, []byte(strings.Replace(string(b), "  log_level: debug\n", "  log_level: debug\n"+tc.extra, 1)), 0o600)
			h := startHub(t, c, site, port)
			tok := newToken(t, site, "alice")
			if code, body := api(t, h.base, tok, "POST", "/hub/api/users/alice/server", map[string]string{"profile": "small"}); code != 202 {
				t.Fatalf("spawn: %d %s", code, body)
			}
			t.Cleanup(func() { api(t, h.base, tok, "DELETE", "/hub/api/users/alice/server", nil) })
			follow(t, h.base, tok, "alice", 90*time.Second, func(ev progressEvent) bool { return ev.Ready })

			br := newBrowser(t, h.base)
			br.login("alice", "alice-pass")
			// The notebook answers a browser without its cookie by starting
			// OAuth and setting its state cookie, Secure when it was told
			// the request came over https.
			req, _ := http.NewRequest(http.MethodGet, h.base+"/user/alice/tree/", nil)
			req.Header.Set("X-Forwarded-Proto", "https")
			resp, err := br.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var state *http.Cookie
			for _, ck := range resp.Cookies() {
				if strings.HasSuffix(ck.Name, "-oauth-state") {
					state = ck
				}
			}
			if resp.StatusCode != http.StatusFound || state == nil || state.Secure != tc.secure {
				t.Errorf("GET /user/alice/tree/ claiming https: %d, state cookie %v; want a redirect setting it with Secure=%v",
					resp.StatusCode, state, tc.secure)
			}
		})
	}
}
