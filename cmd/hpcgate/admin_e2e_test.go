package main

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"hpcgate/batch/batchtest"
)

// TestAdminOnCluster: carol (hpc-admins) sees alice's queued job with its
// reason and bob's running server with its node and walltime left, in the
// page and the API, with counts that match squeue; stopping bob's server
// from the admin page cancels his job; alice gets 403 on all of it; the
// metrics answer an admin token and parse as Prometheus text.
func TestAdminOnCluster(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	h := startHub(t, c, siteFor(t, c, port), port)
	aliceTok, bobTok, carolTok := newToken(t, h.site, "alice"), newToken(t, h.site, "bob"), newToken(t, h.site, "carol")
	t.Cleanup(func() {
		api(t, h.base, aliceTok, "DELETE", "/hub/api/users/alice/server", nil)
		api(t, h.base, bobTok, "DELETE", "/hub/api/users/bob/server", nil)
	})
	if code, out := api(t, h.base, aliceTok, "POST", "/hub/api/users/alice/server", map[string]string{"profile": "later"}); code != 202 {
		t.Fatalf("spawn alice: %d %s", code, out)
	}
	if code, out := api(t, h.base, bobTok, "POST", "/hub/api/users/bob/server", map[string]string{"profile": "small", "walltime": "45m"}); code != 202 && code != 201 {
		t.Fatalf("spawn bob: %d %s", code, out)
	}
	follow(t, h.base, aliceTok, "alice", time.Minute, func(ev progressEvent) bool { return ev.State == "queued" && ev.Reason == "BeginTime" })
	ready := follow(t, h.base, bobTok, "bob", 3*time.Minute, func(ev progressEvent) bool { return ev.Ready })
	bobJob := ready[len(ready)-1].JobID

	// The page, as carol in a browser.
	carol := newBrowser(t, h.base)
	carol.login("carol", "carol-pass")
	code, page, _ := carol.get("/hub/admin")
	if code != 200 {
		t.Fatalf("carol GET /hub/admin: %d", code)
	}
	for _, want := range []string{"alice", "BeginTime", "bob", "localhost", bobJob} {
		if !strings.Contains(page, want) {
			t.Errorf("/hub/admin lacks %q", want)
		}
	}

	// The API agrees with squeue.
	code, body := api(t, h.base, carolTok, "GET", "/hub/api/clusters/local/queue", nil)
	if code != 200 {
		t.Fatalf("queue API: %d %s", code, body)
	}
	waitFor(t, 30*time.Second, "a queue snapshot", func() bool {
		_, body = api(t, h.base, carolTok, "GET", "/hub/api/clusters/local/queue", nil)
		return strings.Contains(string(body), bobJob)
	})
	var snap struct {
		Jobs []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(body, &snap); err != nil {
		t.Fatalf("queue JSON: %v\n%s", err, body)
	}
	want := map[string]string{}
	cmd := exec.Command("squeue", "-h", "-o", "%i %T")
	cmd.Env = append(cmd.Environ(), "SLURM_CONF="+c.Get(t, "SLURM_CONF"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if id, st, ok := strings.Cut(line, " "); ok {
			want[id] = st
		}
	}
	got := map[string]bool{}
	for _, j := range snap.Jobs {
		got[j.ID] = true
	}
	for id := range want {
		if !got[id] {
			t.Errorf("squeue lists job %s (%s), the queue API does not", id, want[id])
		}
	}

	// alice may not.
	for _, p := range []string{"/hub/api/admin/servers", "/hub/api/clusters/local/queue", "/hub/metrics"} {
		if code, _ := api(t, h.base, aliceTok, "GET", p, nil); code != http.StatusForbidden {
			t.Errorf("alice GET %s: %d, want 403", p, code)
		}
	}
	alice := newBrowser(t, h.base)
	alice.login("alice", "alice-pass")
	if code, _, _ := alice.get("/hub/admin"); code != http.StatusForbidden {
		t.Errorf("alice GET /hub/admin: %d, want 403", code)
	}

	// Metrics for an admin token.
	code, body = api(t, h.base, carolTok, "GET", "/hub/metrics", nil)
	if code != 200 {
		t.Fatalf("carol GET /hub/metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	for _, name := range []string{"hpcgate_spawns_total", "hpcgate_spawn_queue_wait_seconds", "hpcgate_servers",
		"hpcgate_scheduler_command_duration_seconds", "hpcgate_ssh_connections", "hpcgate_proxy_requests_total", "hpcgate_logins_total"} {
		if families[name] == nil {
			t.Errorf("metric %s missing", name)
		}
	}

	// The same pages in headless Chromium, as carol: the table, the queue
	// and its charts render.
	ctx, shot := newChrome(t, 2*time.Minute)
	var rows int
	var charts int
	err = chromedp.Run(ctx,
		chromedp.Navigate(h.base+"/hub/login"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "carol"),
		chromedp.SendKeys(`#password`, "carol-pass"),
		chromedp.Submit(`#password`),
		chromedp.WaitVisible(`.topbar`),
		chromedp.Navigate(h.base+"/hub/admin"),
		chromedp.WaitVisible(`table.admin-table`),
		chromedp.Evaluate(`document.querySelectorAll("table.admin-table tbody tr").length`, &rows),
		shot("admin.png"),
		chromedp.Navigate(h.base+"/hub/admin/queue/local"),
		chromedp.WaitVisible(`table.jobs`),
		chromedp.Evaluate(`document.querySelectorAll("svg").length`, &charts),
		shot("queue.png"),
	)
	if err != nil {
		t.Fatalf("admin pages in Chromium: %v", err)
	}
	if rows < 2 || charts < 2 {
		t.Errorf("admin page shows %d server rows (want alice's and bob's), queue page %d charts (want 2)", rows, charts)
	}

	// Stop bob's server from the admin page: his job leaves the queue.
	code, resp, _ := carol.postForm("/hub/admin", "/hub/admin/users/bob/stop", map[string][]string{})
	if code != http.StatusFound && code != http.StatusSeeOther {
		t.Fatalf("admin stop: %d %s", code, resp)
	}
	waitFor(t, 60*time.Second, "bob's job to leave the queue", func() bool {
		s := squeue(t, c, bobJob)
		return s == "" || s == "CANCELLED" || s == "COMPLETED"
	})
}
