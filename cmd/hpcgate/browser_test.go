package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"hpcgate/batch/batchtest"
)

// TestBrowser runs the user's flow in headless Chromium: log in, fill the
// spawn form, watch the pending page until the notebook opens through the
// hub's OAuth, run print(6*7) in a notebook cell over the proxied
// WebSocket, and stop. Screenshots go to $HPCGATE_SCREENSHOTS (default: the
// test's temp dir).
func TestBrowser(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	h := startHub(t, c, siteFor(t, c, port), port)
	ctx, shot := newChrome(t, 3*time.Minute)
	var err error
	var pending, location string
	err = chromedp.Run(ctx,
		chromedp.Navigate(h.base+"/hub/login"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "alice"),
		chromedp.SendKeys(`#password`, "alice-pass"),
		shot("login.png"),
		chromedp.Submit(`#password`),
		chromedp.WaitVisible(`.topbar`),
		chromedp.Navigate(h.base+"/hub/spawn"),
		chromedp.WaitVisible(`#spawn-form button[type=submit]`),
		shot("spawn.png"),
		chromedp.Click(`#spawn-form button[type=submit]`),
		chromedp.WaitVisible(`#pending`),
		chromedp.Location(&pending),
	)
	if err != nil {
		t.Fatalf("login and spawn: %v", err)
	}
	if !strings.Contains(pending, "/hub/spawn-pending/alice") {
		t.Fatalf("after spawning the browser is at %s", pending)
	}
	chromedp.Run(ctx, shot("spawn-pending.png"))
	// The pending page follows the event stream and redirects to the
	// notebook, which sends the browser through the hub's OAuth.
	err = chromedp.Run(ctx,
		chromedp.WaitVisible(`#notebook_list, #ipython-main-app`),
		chromedp.Location(&location),
		shot("tree.png"),
	)
	if err != nil {
		t.Fatalf("waiting for the notebook tree: %v", err)
	}
	if !strings.Contains(location, "/user/alice/tree") {
		t.Fatalf("the notebook opened at %s, want /user/alice/tree", location)
	}

	// A notebook: create it with the notebook's own API from the page (its
	// XSRF cookie and session), open it, run a cell.
	var path string
	err = chromedp.Run(ctx,
		chromedp.Evaluate(`(async () => {
			const x = document.cookie.match(/_xsrf=([^;]+)/);
			const r = await fetch('/user/alice/api/contents', {method: 'POST',
				headers: {'Content-Type': 'application/json', 'X-XSRFToken': x ? decodeURIComponent(x[1]) : ''},
				body: JSON.stringify({type: 'notebook'})});
			return (await r.json()).path;
		})()`, &path, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
	)
	if err != nil || path == "" {
		t.Fatalf("create notebook: %v (%q)", err, path)
	}
	var out string
	err = chromedp.Run(ctx,
		chromedp.Navigate(h.base+"/user/alice/notebooks/"+path),
		chromedp.WaitVisible(`.CodeMirror`),
		chromedp.Poll(`window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected()`, nil,
			chromedp.WithPollingTimeout(60*time.Second)),
		chromedp.Evaluate(`(() => { const c = Jupyter.notebook.get_cell(0); c.set_text('print(6*7)'); c.execute(); return true })()`, nil),
		chromedp.WaitVisible(`.output_area .output_text`),
		chromedp.Text(`.output_area .output_text`, &out),
		shot("notebook.png"),
	)
	if err != nil {
		t.Fatalf("run a cell: %v", err)
	}
	if strings.TrimSpace(out) != "42" {
		t.Fatalf("the cell printed %q, want 42", out)
	}

	// Stop from the home page (leaving the notebook without its
	// "unsaved changes" prompt, which would block the navigation).
	err = chromedp.Run(ctx,
		chromedp.Evaluate(`Jupyter.notebook.set_dirty(false); window.onbeforeunload = null; true`, nil),
		chromedp.Navigate(h.base+"/hub/home"),
		chromedp.WaitVisible(`form[action*="/hub/stop/alice"] button`),
		chromedp.Click(`form[action*="/hub/stop/alice"] button`),
		chromedp.Sleep(time.Second),
		shot("home-stopped.png"),
	)
	if err != nil {
		t.Fatalf("stop: %v", err)
	}
	tok := newToken(t, h.site, "alice")
	waitFor(t, 60*time.Second, "alice's server to stop", func() bool {
		_, b := api(t, h.base, tok, "GET", "/hub/api/users/alice", nil)
		return !strings.Contains(string(b), `"pending":"stop"`) && !strings.Contains(string(b), `"ready":true`)
	})
}

// newChrome starts headless Chromium for the test and returns its context
// and an action that saves a screenshot under $HPCGATE_SCREENSHOTS (default:
// the test's temp dir).
func newChrome(t *testing.T, timeout time.Duration) (context.Context, func(name string) chromedp.Action) {
	t.Helper()
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (testdata/cluster/install.sh installs it): %v", err)
	}
	shots := os.Getenv("HPCGATE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	os.MkdirAll(shots, 0o755)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelT(); cancel(); cancelAlloc() })
	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var png []byte
			if err := chromedp.FullScreenshot(&png, 90).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name), png, 0o644)
		})
	}
	t.Logf("screenshots in %s", shots)
	return ctx, shot
}
