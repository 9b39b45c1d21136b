package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The checks of TestApps that look at each app's own UI in Chromium.

func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

// within runs actions in the app's browser for at most d; on failure it
// saves a screenshot and says where the browser was and what it showed.
func within(t *testing.T, a appRun, d time.Duration, what string, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(a.ctx, d)
	defer cancel()
	err := chromedp.Run(ctx, actions...)
	if err == nil {
		return
	}
	var loc, text string
	chromedp.Run(a.ctx, chromedp.Location(&loc), chromedp.Evaluate(`document.body ? document.body.innerText.slice(0, 600) : ""`, &text),
		a.shot("apps-"+a.name+"-failed.png"))
	t.Fatalf("%s: %v\nthe browser is at %s, showing:\n%s", what, err, loc, text)
}

// arrive waits until the pending page has sent the browser on to want (a
// URL prefix) and that page has loaded, through the redirects on the way.
func arrive(t *testing.T, a appRun, want string) string {
	t.Helper()
	var at string
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(a.ctx, 5*time.Second)
		err := chromedp.Run(ctx, chromedp.Evaluate(`document.readyState === 'complete' ? location.href : ''`, &at))
		cancel()
		if err == nil && strings.HasPrefix(at, want) {
			return at
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("the browser did not arrive at %s (it is at %q)", want, at)
	return ""
}

// openJupyterServer: the classic tree of Jupyter Server (no JupyterHub
// code) lists a file alice writes through the server's contents API from
// the page, which works because the proxy presents the job's token.
func openJupyterServer(t *testing.T, a appRun) {
	arrive(t, a, a.base+"/user/alice/tree")
	within(t, a, time.Minute, "waiting for Jupyter Server's tree", chromedp.WaitVisible(`#notebook_list`))
	name := fmt.Sprintf("hpcgate-e2e-%d.txt", time.Now().UnixNano())
	var status int
	within(t, a, 30*time.Second, "write a file through Jupyter Server's contents API", chromedp.Evaluate(`(async () => {
		const x = document.cookie.match(/_xsrf=([^;]+)/);
		const r = await fetch('/user/alice/api/contents/`+name+`', {method: 'PUT',
			headers: {'Content-Type': 'application/json', 'X-XSRFToken': x ? decodeURIComponent(x[1]) : ''},
			body: JSON.stringify({type: 'file', format: 'text', content: 'written through hpcgate\n'})});
		return r.status;
	})()`, &status, awaitPromise))
	if status != 201 {
		t.Fatalf("PUT /user/alice/api/contents/%s from the page: status %d", name, status)
	}
	t.Cleanup(func() { os.Remove(filepath.Join(homeOf(t, "alice"), name)) })
	within(t, a, 45*time.Second, "the tree listing "+name,
		chromedp.Navigate(a.base+"/user/alice/tree"),
		chromedp.Poll(`[...document.querySelectorAll('#notebook_list .item_name')].some(e => e.textContent.trim() === '`+name+`')`, nil,
			chromedp.WithPollingTimeout(30*time.Second)),
		a.shot("apps-jupyter-server.png"),
	)
	if _, err := os.Stat(filepath.Join(homeOf(t, "alice"), name)); err != nil {
		t.Errorf("the file is not in alice's home: %v", err)
	}
}

// openVSCode: code-server's workbench with alice's home as its folder;
// a file of her home opened by a link shows its text in the editor.
func openVSCode(t *testing.T, a appRun) {
	home := homeOf(t, "alice")
	name := fmt.Sprintf("hpcgate-e2e-%d.txt", time.Now().UnixNano())
	text := "opened in VS Code through hpcgate " + strconv.FormatInt(time.Now().Unix(), 10)
	writeAs(t, "alice", filepath.Join(home, name), text+"\n")
	loc := arrive(t, a, a.base+"/user/alice/")
	// The explorer lists her home once the workbench has talked to the
	// server over its WebSocket.
	within(t, a, time.Minute, "VS Code's workbench with her home in the explorer",
		// JavaScript polls, not chromedp's DOM queries, which lose track
		// of the workbench's busy DOM.
		chromedp.Poll(`!!document.querySelector('.monaco-workbench .explorer-folders-view .monaco-list-row')`, nil),
	)
	// A link that opens the file (VS Code's payload openFile, as
	// "code-server FILE" or a shared link does) shows its text.
	u, _ := url.Parse(loc)
	payload, _ := json.Marshal([][2]string{{"openFile", "vscode-remote://" + u.Host + filepath.Join(home, name)}})
	within(t, a, time.Minute, "the editor showing "+name,
		chromedp.Navigate(a.base+"/user/alice/?folder="+url.QueryEscape(home)+"&payload="+url.QueryEscape(string(payload))),
		// Monaco draws spaces as no-break spaces.
		chromedp.Poll(`[...document.querySelectorAll('.editor-instance .view-lines')].some(e => e.textContent.replace(/\u00a0/g, ' ').includes('`+text+`'))
			&& [...document.querySelectorAll('.tabs-container .tab')].some(e => e.textContent.includes('`+name+`'))`, nil),
		a.shot("apps-vscode.png"),
	)
	if !strings.Contains(loc, "folder="+home) {
		t.Errorf("VS Code opened at %s, want her home folder %s", loc, home)
	}
	var folder string
	if err := chromedp.Run(a.ctx, chromedp.Evaluate(`document.title`, &folder)); err == nil && !strings.Contains(folder, filepath.Base(home)) {
		t.Errorf("VS Code's title %q does not name alice's home folder", folder)
	}
}

// openDesktop: noVNC connected through the proxy (which added the token
// the browser never sees) and a canvas with the twm desktop's windows:
// xterm's white background covers a good part of it.
func openDesktop(t *testing.T, a appRun) {
	loc := arrive(t, a, a.base+"/user/alice/vnc.html")
	within(t, a, time.Minute, "noVNC connecting",
		chromedp.Poll(`document.documentElement.classList.contains('noVNC_connected')`, nil),
	)
	if strings.Contains(loc, "token=") {
		t.Errorf("the desktop opened at %s; want /user/alice/vnc.html without the job's token", loc)
	}
	var st struct {
		W, H   int
		White  float64
		Colors int
	}
	within(t, a, 45*time.Second, "a window on the desktop's canvas",
		chromedp.Poll(`(() => {
			const c = document.querySelector('#noVNC_container canvas');
			if (!c || !c.width) return false;
			const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
			let white = 0, n = 0; const colors = new Set();
			for (let i = 0; i < d.length; i += 4 * 5) {
				const k = (d[i] << 16) | (d[i+1] << 8) | d[i+2];
				if (colors.size < 1000) colors.add(k);
				if (k === 0xffffff) white++;
				n++;
			}
			const s = {W: c.width, H: c.height, White: white / n, Colors: colors.size};
			return s.White > 0.05 && s.Colors > 3 ? s : false;
		})()`, &st, chromedp.WithPollingTimeout(30*time.Second)),
		a.shot("apps-desktop.png"),
	)
	t.Logf("desktop canvas %dx%d, %.0f%% white, %d colours", st.W, st.H, 100*st.White, st.Colors)
}

// homeOf is user's home directory on the (shared) cluster.
func homeOf(t *testing.T, name string) string {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("look up %s: %v", name, err)
	}
	return u.HomeDir
}

// writeAs writes a file of user's (the tests run as root), removed after.
func writeAs(t *testing.T, name, path, content string) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
}
