package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"hpcgate/gateway"
)

// TestNamedServerUserURLs: /hub/user/<u>/<name>/<path> is the named
// server's when <name> is one of the user's servers (JupyterHub's
// UserUrlHandler): a stopped one is offered to start (its own form, and
// back to the path), a starting one leads to its own progress page, a
// running one gets the request back; any other first segment is a path
// of the default server.
func TestNamedServerUserURLs(t *testing.T) {
	e := newEnv(t, withNamedServers(0))
	now := e.clock.Now()
	gpu := named(queued("alice", now), "gpu")
	gpu.State = gateway.StateStopped
	cpu := named(queued("alice", now), "cpu")
	web := named(ready("alice", now), "web")
	failed := named(queued("alice", now), "broken")
	failed.State, failed.Reason = gateway.StateFailed, "The job failed with exit code 1."
	e.serverIs(gpu, cpu, web, failed)
	b := e.browser()
	b.login("alice", "alice-pass")

	resp, body := b.get("/hub/user/alice/gpu/notebooks/a.ipynb?kernel=py")
	next := url.QueryEscape("/user/alice/gpu/notebooks/a.ipynb?kernel=py")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `href="/hub/spawn/alice/gpu?next=`+next+`"`) ||
		!strings.Contains(body, "Your server <strong>gpu</strong> is not running.") {
		t.Errorf("stopped gpu: %d\n%s", resp.StatusCode, body)
	}
	if _, body = b.get("/hub/user/alice/broken/tree"); !strings.Contains(body, "Last time: The job failed with exit code 1.") {
		t.Errorf("a failed named server does not say why:\n%s", body)
	}
	resp, _ = b.get("/hub/user/alice/cpu/lab")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "/hub/spawn-pending/alice/cpu?next="+url.QueryEscape("/user/alice/cpu/lab") {
		t.Errorf("queued cpu: %d to %q", resp.StatusCode, loc)
	}
	resp, _ = b.get("/hub/user/alice/web/api/status")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "/user/alice/web/api/status?redirects=1" {
		t.Errorf("ready web: %d to %q", resp.StatusCode, loc)
	}
	// No server named tree: the default server's path (alice has none).
	resp, body = b.get("/hub/user/alice/tree/gpu")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `href="/hub/spawn?next=`+url.QueryEscape("/user/alice/tree/gpu")+`"`) {
		t.Errorf("default server's path: %d\n%s", resp.StatusCode, body)
	}

	// Without named servers every path is the default server's.
	e2 := newEnv(t)
	e2.serverIs(gpu)
	b2 := e2.browser()
	b2.login("alice", "alice-pass")
	if _, body = b2.get("/hub/user/alice/gpu/tree"); !strings.Contains(body, `href="/hub/spawn?next=`+url.QueryEscape("/user/alice/gpu/tree")+`"`) {
		t.Errorf("named servers off: not the default server's offer\n%s", body)
	}
}

// TestNamedServerPendingNext: a named server's progress page and spawn
// form lead into that server: next must be under /user/<u>/<name>/ (a
// path of another server is dropped), and without next the ready server
// opens at its own URL.
func TestNamedServerPendingNext(t *testing.T) {
	e := newEnv(t, withNamedServers(0))
	now := e.clock.Now()
	cpu := named(queued("alice", now), "cpu")
	e.serverIs(named(ready("alice", now), "gpu"), cpu)
	b := e.browser()
	b.login("alice", "alice-pass")
	tests := []struct{ path, want string }{
		{"/hub/spawn-pending/alice/gpu", "/user/alice/gpu/"},
		{"/hub/spawn-pending/alice/gpu?next=" + url.QueryEscape("/user/alice/gpu/lab/tree/x.ipynb"), "/user/alice/gpu/lab/tree/x.ipynb"},
		{"/hub/spawn-pending/alice/gpu?next=" + url.QueryEscape("/user/alice/tree"), "/user/alice/gpu/"},
		{"/hub/spawn-pending/alice/gpu?next=" + url.QueryEscape("/user/alice/gpux/tree"), "/user/alice/gpu/"},
		{"/hub/spawn-pending/alice/gpu?next=" + url.QueryEscape("/user/bob/gpu/"), "/user/alice/gpu/"},
	}
	for _, tt := range tests {
		resp, _ := b.get(tt.path)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != tt.want {
			t.Errorf("GET %s: %d to %q, want %q", tt.path, resp.StatusCode, loc, tt.want)
		}
	}
	// The spawn form of a ready named server leads to it the same way.
	resp, _ := b.get("/hub/spawn/alice/gpu?next=" + url.QueryEscape("/user/alice/lab"))
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/user/alice/gpu/" {
		t.Errorf("spawn form of ready gpu with the default server's next: %d to %q", resp.StatusCode, loc)
	}
	// A queued one's page carries its own next to the page's script.
	_, body := b.get("/hub/spawn-pending/alice/cpu?next=" + url.QueryEscape("/user/alice/cpu/lab"))
	if !strings.Contains(body, `data-server-url="/user/alice/cpu/"`) || !strings.Contains(body, `data-next-url="/user/alice/cpu/lab"`) {
		t.Errorf("cpu's pending page lacks its URLs")
	}
	_, body = b.get("/hub/spawn-pending/alice/cpu?next=" + url.QueryEscape("/user/alice/gpu/lab"))
	if strings.Contains(body, "data-next-url") {
		t.Errorf("cpu's pending page would go to gpu")
	}
}
