package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A link into "your own server" goes to the follower's server with its
// query string, or through the spawn form and the progress page to it.
func TestUserRedirectLink(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	e.serverIs(ready("alice", now), queued("bob", now))
	link := "/hub/user-redirect/git-pull?repo=https%3A%2F%2Fexample.org%2Fc.git&urlpath=tree%2Fc%2F"

	alice := e.browser()
	alice.login("alice", "alice-pass")
	resp, _ := alice.get(link)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "/user/alice/git-pull?repo=https%3A%2F%2Fexample.org%2Fc.git&urlpath=tree%2Fc%2F" {
		t.Errorf("alice (running): %d %q", resp.StatusCode, loc)
	}

	// bob's server is queued: the progress page, which then opens the link.
	bob := e.browser()
	bob.login("bob", "bob-pass")
	resp, _ = bob.get(link)
	loc := resp.Header.Get("Location")
	want := "/user/bob/git-pull?repo=https%3A%2F%2Fexample.org%2Fc.git&urlpath=tree%2Fc%2F"
	if resp.StatusCode != http.StatusFound || loc != "/hub/spawn-pending/bob?next="+url.QueryEscape(want) {
		t.Fatalf("bob (queued): %d %q", resp.StatusCode, loc)
	}
	if _, body := bob.get(loc); !strings.Contains(body, `data-next-url="`+strings.ReplaceAll(want, "&", "&amp;")+`"`) {
		t.Errorf("the pending page does not carry the link: %s", body)
	}

	// carol has no server: the spawn form, carrying the link in a field,
	// and the spawn goes on to the progress page with it.
	carol := e.browser()
	carol.login("carol", "carol-pass")
	resp, _ = carol.get("/hub/user-redirect/lab")
	loc = resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || loc != "/hub/spawn?next="+url.QueryEscape("/user/carol/lab") {
		t.Fatalf("carol (stopped): %d %q", resp.StatusCode, loc)
	}
	if _, body := carol.get(loc); !strings.Contains(body, `name="next" value="/user/carol/lab"`) {
		t.Errorf("the spawn form does not carry the link")
	}
	// A next that leaves the user's own server is dropped.
	for _, bad := range []string{"/user/alice/lab", "//evil.example/", "https://evil.example/user/carol/", "/user/carol/../alice/"} {
		if _, body := carol.get("/hub/spawn?next=" + url.QueryEscape(bad)); strings.Contains(body, `name="next"`) {
			t.Errorf("next %q was kept in the form", bad)
		}
	}
}

// /hub/user/<name>/<path> of a stopped server offers to start it and come
// back to the path.
func TestNotRunningOffersStart(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login("alice", "alice-pass")
	resp, body := b.get("/hub/user/alice/notebooks/a.ipynb?kernel=py")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `href="/hub/spawn?next=`+url.QueryEscape("/user/alice/notebooks/a.ipynb?kernel=py")+`"`) {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
}
