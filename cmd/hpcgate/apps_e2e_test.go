package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.yaml.in/yaml/v3"

	"hpcgate/batch/batchtest"
)

// TestApps runs the catalogue's three apps as the example site file
// declares them (site-configs/example.yaml, the lines a site copies) on the
// loopback cluster, one after the other on one hub: alice picks each on
// the spawn form in Chromium, waits for the job and gets the app's real UI
// at /user/alice/; bob gets 403 there; the admin page and the REST API
// show the app; the proxy's traffic is the server's activity; stopping
// cancels the job. The hub API the jobs are given (hub_api_url) is a
// listener that counts connections and answers none: these apps work
// without calling the hub, and none did.
func TestApps(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	trap := newHubAPITrap(t)
	site := appsSite(t, c, port, trap.url)
	h := startHub(t, c, site, port)
	aliceTok, carolTok := newToken(t, site, "alice"), newToken(t, site, "carol")
	bob := newBrowser(t, h.base)
	bob.login("bob", "bob-pass")
	carol := newBrowser(t, h.base)
	carol.login("carol", "carol-pass")
	t.Cleanup(func() { api(t, h.base, aliceTok, "DELETE", "/hub/api/users/alice/server", nil) })

	ctx, shot := newChrome(t, 8*time.Minute)
	if err := chromedp.Run(ctx,
		chromedp.Navigate(h.base+"/hub/login"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "alice"),
		chromedp.SendKeys(`#password`, "alice-pass"),
		chromedp.Submit(`#password`),
		chromedp.WaitVisible(`.topbar`),
	); err != nil {
		t.Fatalf("alice logs in: %v", err)
	}

	for _, app := range []struct {
		name, title string
		// open checks the app's UI in the browser, which the pending page
		// has sent to /user/alice/.
		open func(t *testing.T, a appRun)
	}{
		{"jupyter-server", "Jupyter Server", openJupyterServer},
		{"vscode", "VS Code", openVSCode},
		{"desktop", "Desktop", openDesktop},
	} {
		ok := t.Run(app.name, func(t *testing.T) {
			start := time.Now()
			err := chromedp.Run(ctx,
				chromedp.Navigate(h.base+"/hub/spawn"),
				chromedp.WaitVisible(`#spawn-form button[type=submit]`),
				chromedp.Click(`input[name=profile][value="local/apps"]`),
				chromedp.WaitVisible(`#f-local-apps-app`),
				chromedp.SetValue(`#f-local-apps-app`, app.name),
				shot("apps-spawn-"+app.name+".png"),
				chromedp.Click(`#spawn-form button[type=submit]`),
				chromedp.WaitVisible(`#pending`),
			)
			if err != nil {
				t.Fatalf("spawn %s from the form: %v", app.name, err)
			}
			srv := waitServer(t, h.base, aliceTok, 3*time.Minute, func(s restServer) bool { return s.Ready })
			t.Logf("%s ready %s after the form was sent (job %s)", app.name, time.Since(start).Round(100*time.Millisecond), srv.HPCGate.JobID)
			if got := srv.UserOptions["app"]; got != app.name {
				t.Errorf("user_options.app %q, want %q", got, app.name)
			}
			app.open(t, appRun{ctx: ctx, base: h.base, shot: shot, name: app.name})

			// The proxy's traffic is the app's activity (nothing else
			// reports it for these apps): flushed within 10 s.
			waitFor(t, 30*time.Second, "the proxied traffic to show as the server's activity", func() bool {
				s, _ := server(t, h.base, aliceTok)
				return s.LastActivity != nil && s.LastActivity.After(start.Add(-time.Second))
			})

			// bob may not, with his cookie or his token.
			for _, path := range []string{"/user/alice/", "/user/alice/api/status"} {
				if code, _, _ := bob.get(path); code != http.StatusForbidden {
					t.Errorf("bob's cookie on %s: %d, want 403", path, code)
				}
			}
			// The admin sees the app, on the page and in the REST API.
			_, page, _ := carol.get("/hub/admin?user=alice")
			if !strings.Contains(page, `<span class="app">`+app.title+`</span>`) {
				t.Errorf("the admin page does not show %q in alice's row", app.title)
			}
			if code, out := api(t, h.base, carolTok, "GET", "/hub/api/users/alice", nil); code != 200 || !bytes.Contains(out, []byte(`"app":"`+app.name+`"`)) {
				t.Errorf("admin's GET /hub/api/users/alice: %d %s; want user_options.app %s", code, out, app.name)
			}

			// Stop: the job leaves the queue.
			if code, out := api(t, h.base, aliceTok, "DELETE", "/hub/api/users/alice/server", nil); code != 202 && code != 204 {
				t.Fatalf("stop: %d %s", code, out)
			}
			waitFor(t, time.Minute, "job "+srv.HPCGate.JobID+" to leave the queue", func() bool {
				s := squeue(t, c, srv.HPCGate.JobID)
				return s == "" || s == "CANCELLED" || s == "COMPLETED"
			})
			waitFor(t, 30*time.Second, "the server to show as stopped", func() bool {
				_, ok := server(t, h.base, aliceTok)
				return !ok
			})
		})
		if !ok {
			break // one server at a time: a failed stop would fail the next spawn too
		}
	}
	if n := trap.n.Load(); n != 0 {
		t.Errorf("the jobs connected %d times to the hub API they were given; token apps must not call the hub", n)
	}
}

// appRun is what an app's check gets.
type appRun struct {
	ctx  context.Context
	base string
	shot func(string) chromedp.Action
	name string
}

// hubAPITrap is the hub_api_url the jobs get: it counts connections and
// closes them unanswered.
type hubAPITrap struct {
	url string
	n   atomic.Int64
}

func newHubAPITrap(t *testing.T) *hubAPITrap {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &hubAPITrap{url: fmt.Sprintf("http://%s/hub/api", l.Addr())}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			tr.n.Add(1)
			conn.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return tr
}

// appsSite is the loopback site with the example site file's apps in the
// local cluster, a profile offering them, and hub_api_url at apiURL.
func appsSite(t *testing.T, c batchtest.Cluster, port int, apiURL string) string {
	t.Helper()
	site := siteFor(t, c, port)
	b, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, r := range []struct{ anchor, add string }{
		{"  log_level: debug\n", "  hub_api_url: " + apiURL + "\n"},
		{"      command: [jupyterhub-singleuser, --ip=127.0.0.1, \"--port={port}\"]\n", "    apps:\n" + exampleApps(t)},
		{"    profiles:\n", `      - name: apps
        title: Apps (tests)
        cores: {value: 1}
        memory: {value: 1G}
        walltime: {value: 30m}
        apps: [jupyterhub, jupyter-server, vscode, desktop]
`},
	} {
		i := strings.Index(s, r.anchor)
		if i < 0 {
			t.Fatalf("site file has no %q", r.anchor)
		}
		i += len(r.anchor)
		s = s[:i] + r.add + s[i:]
	}
	if err := os.WriteFile(site, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return site
}

// exampleApps is clusters[0].apps of site-configs/example.yaml, indented
// for a cluster of the test's site file.
func exampleApps(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "site-configs", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Clusters []struct {
			Apps yaml.Node `yaml:"apps"`
		} `yaml:"clusters"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil || len(doc.Clusters) == 0 || doc.Clusters[0].Apps.Kind != yaml.SequenceNode {
		t.Fatalf("site-configs/example.yaml: no clusters[0].apps (%v)", err)
	}
	out, err := yaml.Marshal(&doc.Clusters[0].Apps)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, line := range strings.SplitAfter(strings.TrimRight(string(out), "\n")+"\n", "\n") {
		if line != "" {
			sb.WriteString("      " + line)
		}
	}
	return sb.String()
}

// restServer is the part of the REST server model the test reads.
type restServer struct {
	Ready        bool              `json:"ready"`
	LastActivity *time.Time        `json:"last_activity"`
	UserOptions  map[string]string `json:"user_options"`
	HPCGate      struct {
		JobID string `json:"job_id"`
		State string `json:"state"`
	} `json:"hpcgate"`
}

// server is alice's default server as the REST API shows it to tok.
func server(t *testing.T, base, tok string) (restServer, bool) {
	t.Helper()
	code, out := api(t, base, tok, "GET", "/hub/api/users/alice", nil)
	if code != 200 {
		t.Fatalf("GET /hub/api/users/alice: %d %s", code, out)
	}
	var u struct {
		Servers map[string]restServer `json:"servers"`
	}
	if err := json.Unmarshal(out, &u); err != nil {
		t.Fatalf("GET /hub/api/users/alice: %v", err)
	}
	s, ok := u.Servers[""]
	return s, ok
}

func waitServer(t *testing.T, base, tok string, d time.Duration, until func(restServer) bool) restServer {
	t.Helper()
	var s restServer
	waitFor(t, d, "alice's server", func() bool {
		var ok bool
		s, ok = server(t, base, tok)
		return ok && until(s)
	})
	return s
}
