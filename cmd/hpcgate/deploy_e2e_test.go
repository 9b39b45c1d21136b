package main

import (
	"fmt"
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
