package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"hpcgate/batch/batchtest"
)

// TestHostileAppVisitor: alice's server is her own code
// (testdata/visitor_app.py) and is served from the hub's own origin. Carol,
// an admin (admin_access on), opens it in Chromium. Its page's script runs
// in carol's browser and tries to act at the hub as carol: read the API
// with her cookie, read /hub/token for its XSRF token and create an API
// token with it. The hub must not
// serve its pages or take its forms from a script: carol's browser must
// hand alice's code nothing that works at the hub.
func TestHostileAppVisitor(t *testing.T) {
	h, logfile := hostileVisitorHub(t, "visitor_app.py")

	ctx, shot := newChrome(t, 2*time.Minute)
	var title string
	err := chromedp.Run(ctx,
		carolLogsIn(h),
		chromedp.Navigate(h.base+"/user/alice/tree"),
		chromedp.Poll(`document.title === 'done'`, nil, chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.Title(&title),
		shot("visitor.png"),
	)
	if err != nil {
		var where, body string
		chromedp.Run(ctx, chromedp.Location(&where), chromedp.Evaluate(`document.documentElement.outerHTML.slice(0, 500)`, &body))
		t.Fatalf("carol opens alice's server: %v (the browser is at %s: %s)", err, where, body)
	}
	raw, err := os.ReadFile(logfile)
	if err != nil {
		t.Fatalf("the app's script reported nothing back: %v", err)
	}
	var loot struct {
		APIUsers   int    `json:"api_users_status"`
		PageStatus int    `json:"page_status"`
		XSRF       bool   `json:"xsrf"`
		PostStatus int    `json:"post_status"`
		Token      string `json:"token"`
		Error      string `json:"error"`
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	if err := json.Unmarshal([]byte(line), &loot); err != nil {
		t.Fatalf("the app's report %q: %v", line, err)
	}
	t.Logf("what alice's code got in carol's browser: %s", line)
	if loot.Token != "" {
		code, out := api(t, h.base, loot.Token, "GET", "/hub/api/user", nil)
		t.Errorf("alice's code created an API token as carol from carol's browser; with it GET /hub/api/user: %d %s", code, out)
	}
	if loot.APIUsers != http.StatusForbidden {
		t.Errorf("alice's code read GET /hub/api/users with carol's cookie: %d, want 403", loot.APIUsers)
	}
	if loot.XSRF {
		t.Errorf("alice's code read carol's XSRF token from a hub page (GET /hub/token: %d)", loot.PageStatus)
	}
}

// installVisitorApp puts testdata/<name> where alice's job can read it and
// names a log file in her home (the app makes it, 0600).
func installVisitorApp(t *testing.T, name string) (script, logfile string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/tmp", "hpcgate-visitor-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script = filepath.Join(dir, name)
	if err := os.WriteFile(script, src, 0o644); err != nil {
		t.Fatal(err)
	}
	logfile = fmt.Sprintf("/home/alice/.hpcgate-visitor-%d.log", time.Now().UnixNano())
	t.Cleanup(func() { os.Remove(logfile) })
	return script, logfile
}

// TestHostileAppReachesNoFurther: alice's server (testdata/
// visitor_reach_app.py), opened by carol (an admin), tries the two ways
// around the hub's refusal to serve its pages and forms to scripts: it
// opens /hub/token with window.open and reads the page in that window,
// and it registers a service worker for the whole origin (its sw.js says
// Service-Worker-Allowed: /) that would read carol's hub pages whenever
// she comes back. Hub pages are Cross-Origin-Opener-Policy: same-origin
// and the proxy drops that header and Service-Worker-Allowed from servers'
// responses, so both come to nothing.
func TestHostileAppReachesNoFurther(t *testing.T) {
	h, logfile := hostileVisitorHub(t, "visitor_reach_app.py")

	ctx, shot := newChrome(t, 2*time.Minute)
	loggedIn := chromedp.WaitVisible(`header form[action$="logout"]`)
	for _, step := range []struct {
		what    string
		actions []chromedp.Action
	}{
		{"carol logs in", []chromedp.Action{carolLogsIn(h)}},
		// Without waiting for the load: the page opens a window whose
		// hub page goes to a browsing context group of its own, and
		// chromedp's wait for the load then never ends.
		{"carol opens alice's server", []chromedp.Action{chromedp.ActionFunc(func(ctx context.Context) error {
			if _, _, _, _, err := page.Navigate(h.base + "/user/alice/tree").Do(ctx); err != nil {
				return err
			}
			// The page's script sets its title when it has reported;
			// until the new page's context exists, evaluating fails.
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				var title string
				if chromedp.Evaluate(`document.title`, &title).Do(ctx) == nil && title == "done" {
					return nil
				}
			}
			return errors.New("the page's script did not finish in 30 s")
		})}},
		// Later, carol goes to her hub pages as usual.
		{"carol goes back to her hub pages", []chromedp.Action{chromedp.Navigate(h.base + "/hub/home"), loggedIn,
			chromedp.Navigate(h.base + "/hub/token"), loggedIn}},
	} {
		if err := chromedp.Run(ctx, step.actions...); err != nil {
			var where string
			chromedp.Run(ctx, chromedp.Location(&where), shot("visitor-reach.png"))
			got, _ := os.ReadFile(logfile)
			t.Fatalf("%s: %v (the browser is at %s; the app's log: %s)", step.what, err, where, got)
		}
	}
	raw, err := os.ReadFile(logfile)
	if err != nil {
		t.Fatalf("the app's script reported nothing back: %v", err)
	}
	t.Logf("what alice's code got in carol's browser:\n%s", raw)
	var popup, sw bool
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var r struct {
			Kind       string `json:"kind"`
			XSRF       bool   `json:"xsrf"`
			Token      string `json:"token"`
			Registered string `json:"registered"`
			Error      string `json:"error"`
			Path       string `json:"path"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("the app's report %q: %v", line, err)
		}
		switch r.Kind {
		case "popup":
			popup = true
			if r.XSRF || r.Token != "" {
				t.Errorf("alice's code read a hub page it opened in carol's browser: xsrf %v, token %q", r.XSRF, r.Token)
			}
		case "sw":
			sw = true
			if r.Registered != "" {
				t.Errorf("alice's code registered a service worker for %s in carol's browser", r.Registered)
			}
		case "sw-intercept":
			t.Errorf("alice's service worker intercepted carol's %s (xsrf %v)", r.Path, r.XSRF)
		}
	}
	if !popup || !sw {
		t.Errorf("the app's script did not report both attempts (popup %v, service worker %v)", popup, sw)
	}
}

// TestHostileAppFramesAnotherServer: carol (an admin, admin_access on)
// opens alice's server (testdata/visitor_frame_app.py); its script loads
// bob's server (a real jupyterhub-singleuser carol never opened) in an
// iframe, a navigation, so that the browser runs the hub's OAuth with
// carol's cookie, and then reads bob's files with the login cookie that
// left behind. The hub asks before it lets anyone into another user's
// server, on a page no frame shows and no script can answer: bob's files
// stay out of reach. (Found by a review session, which saw alice's script
// read bob's directory listing before the fix.)
func TestHostileAppFramesAnotherServer(t *testing.T) {
	h, logfile := hostileVisitorHub(t, "visitor_frame_app.py", "bob")
	ctx, _ := newChrome(t, 2*time.Minute)
	err := chromedp.Run(ctx,
		carolLogsIn(h),
		chromedp.Navigate(h.base+"/user/alice/tree"),
		chromedp.Poll(`document.title === 'done'`, nil, chromedp.WithPollingTimeout(40*time.Second)),
	)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(logfile)
	t.Logf("alice's script got: %s", raw)
	switch {
	case strings.Contains(string(raw), `"after":200`):
		t.Errorf("alice's code read bob's server's files through carol's browser after an iframe ran the OAuth flow")
	case !strings.Contains(string(raw), `"after":403`):
		t.Errorf("alice's script did not report its second try at bob's files: %s", raw)
	}
}

// hostileVisitorHub runs a hub with admin_access on the loopback cluster
// whose servers for alice run testdata/<app> (her hostile code) and for
// the users in others jupyterhub-singleuser, starts all their servers and
// returns the hub and the file the app writes what it got to.
func hostileVisitorHub(t *testing.T, app string, others ...string) (*hub, string) {
	t.Helper()
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	site := writeSite(t, c, port, "")
	script, logfile := installVisitorApp(t, app)
	data, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "  log_level: debug\n", "  log_level: debug\n  admin_access: true\n", 1)
	cmd := fmt.Sprintf(`command: [/bin/sh, -c, 'if [ "$JUPYTERHUB_USER" = alice ]; then exec /usr/bin/python3 %s "$0" %s; else exec jupyterhub-singleuser --ip=127.0.0.1 --port="$0"; fi', "{port}"]`, script, logfile)
	text = strings.Replace(text, `command: [jupyterhub-singleuser, --ip=127.0.0.1, "--port={port}"]`, cmd, 1)
	if err := os.WriteFile(site, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, c, site, port)
	for _, u := range append([]string{"alice"}, others...) {
		tok := newToken(t, h.site, u)
		t.Cleanup(func() { api(t, h.base, tok, "DELETE", "/hub/api/users/"+u+"/server", nil) })
		if code, out := api(t, h.base, tok, "POST", "/hub/api/users/"+u+"/server", map[string]string{"profile": "small"}); code != 202 && code != 201 {
			t.Fatalf("spawn %s: %d %s", u, code, out)
		}
		follow(t, h.base, tok, u, 3*time.Minute, func(ev progressEvent) bool { return ev.Ready })
	}
	return h, logfile
}

// carolLogsIn logs carol (an admin) in through the login form and waits
// for a page that shows her logged in (the login page has a top bar too).
func carolLogsIn(h *hub) chromedp.Action {
	return chromedp.Tasks{
		chromedp.Navigate(h.base + "/hub/login"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "carol"),
		chromedp.SendKeys(`#password`, "carol-pass"),
		chromedp.Submit(`#password`),
		chromedp.WaitVisible(`header form[action$="logout"]`),
	}
}
