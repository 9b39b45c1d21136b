package main

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"hpcgate/batch/batchtest"
)

// TestDirectProxy: a cluster with proxy: direct reaches the app without
// the login node's sshd (no SSH channel is opened for it, neither by the
// readiness probe nor by the proxy), and the owner check is the same.
func TestDirectProxy(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	site := siteFor(t, c, port)
	b, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	direct := strings.Replace(string(b), "    start_timeout: 2m\n", "    start_timeout: 2m\n    proxy: direct\n", 1)
	if direct == string(b) {
		t.Fatal("could not add proxy: direct to the site file")
	}
	if err := os.WriteFile(site, []byte(direct), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, c, site, port)

	aliceToken := newToken(t, site, "alice")
	if code, out := api(t, h.base, aliceToken, "POST", "/hub/api/users/alice/server", map[string]string{"profile": "small"}); code != http.StatusCreated && code != http.StatusAccepted {
		t.Fatalf("spawn: %d %s", code, out)
	}
	t.Cleanup(func() { api(t, h.base, aliceToken, "DELETE", "/hub/api/users/alice/server", nil) })
	follow(t, h.base, aliceToken, "alice", 3*time.Minute, func(ev progressEvent) bool { return ev.Ready })

	for range 5 {
		if code, out := api(t, h.base, aliceToken, "GET", "/user/alice/api/status", nil); code != http.StatusOK {
			t.Fatalf("GET /user/alice/api/status: %d %s", code, out)
		}
	}
	bobToken := newToken(t, site, "bob")
	if code, _ := api(t, h.base, bobToken, "GET", "/user/alice/api/status", nil); code != http.StatusForbidden {
		t.Errorf("bob's token on /user/alice/ in direct mode: %d, want 403", code)
	}

	out, err := exec.Command(binary, "token", "-f", site, "-scopes", "read:metrics", "carol").Output()
	if err != nil {
		t.Fatalf("hpcgate token -scopes read:metrics carol: %v", err)
	}
	code, body := api(t, h.base, strings.TrimSpace(string(out)), "GET", "/hub/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /hub/metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	value := func(name string) float64 {
		f := families[name]
		if f == nil || len(f.Metric) != 1 {
			t.Fatalf("metric %s: %v; want one series", name, f)
		}
		m := f.Metric[0]
		if m.Counter != nil {
			return m.Counter.GetValue()
		}
		return m.Gauge.GetValue()
	}
	if n := value("hpcgate_ssh_tunnels_total"); n != 0 {
		t.Errorf("hpcgate_ssh_tunnels_total %v; want 0 in direct mode", n)
	}
	if n := value("hpcgate_proxy_tunnel_channels_opened_total"); n < 1 {
		t.Errorf("hpcgate_proxy_tunnel_channels_opened_total %v; want the proxy's own connections counted", n)
	}
}
