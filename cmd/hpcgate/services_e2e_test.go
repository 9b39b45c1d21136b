package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hpcgate/batch/batchtest"
)

// whoamiScript is the test's JupyterHub service: tornado with Debian's
// unmodified jupyterhub.services.auth.HubOAuthenticated.
func whoamiScript(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("testdata/whoami_service.py")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitService waits until the service answers through the hub.
func waitService(t *testing.T, base, name string) map[string]any {
	t.Helper()
	var env map[string]any
	waitFor(t, 30*time.Second, "service "+name+" to answer through the hub", func() bool {
		req, _ := http.NewRequest("GET", base+"/services/"+name+"/env", nil)
		// The hub's cookies must not reach the service; the service's own do.
		req.Header.Set("Cookie", "hpcgate-session=secret; hpcgate-user=secret2; theirs=1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return false
		}
		env = map[string]any{}
		return json.NewDecoder(resp.Body).Decode(&env) == nil
	})
	return env
}

// TestServiceManaged runs the whoami service as a managed service of the
// hub: the hub starts it with JupyterHub's service environment; in
// Chromium a browser that is not logged in is sent to the hub's login,
// and after logging in as alice goes through the hub's OAuth and is
// greeted by name; killing the service makes the hub start it again.
func TestServiceManaged(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port, svcPort := freePort(t), freePort(t)
	site := writeSite(t, c, port, fmt.Sprintf(`services:
  - name: whoami
    url: http://127.0.0.1:%d
    command: [/usr/bin/python3, %s]
    environment: {WHOAMI_GREETING: hello}
    oauth_no_confirm: true
    info: {purpose: test}
`, svcPort, whoamiScript(t)))
	h := startHub(t, c, site, port)

	env := waitService(t, h.base, "whoami")
	want := map[string]any{
		"JUPYTERHUB_SERVICE_NAME":        "whoami",
		"JUPYTERHUB_SERVICE_PREFIX":      "/services/whoami/",
		"JUPYTERHUB_SERVICE_URL":         fmt.Sprintf("http://127.0.0.1:%d", svcPort),
		"JUPYTERHUB_CLIENT_ID":           "service-whoami",
		"JUPYTERHUB_API_URL":             fmt.Sprintf("http://127.0.0.1:%d/hub/api", port),
		"JUPYTERHUB_BASE_URL":            "/",
		"JUPYTERHUB_HOST":                "",
		"JUPYTERHUB_OAUTH_CALLBACK_URL":  "/services/whoami/oauth_callback",
		"JUPYTERHUB_OAUTH_ACCESS_SCOPES": `["access:services", "access:services!service=whoami"]`,
		"JUPYTERHUB_OAUTH_SCOPES":        `["access:services", "access:services!service=whoami"]`,
		"JUPYTERHUB_API_TOKEN":           "set",
		"JPY_API_TOKEN":                  "set",
		"cookies":                        []any{"theirs"},
	}
	for k, v := range want {
		got := env[k]
		if s, ok := got.(string); ok && strings.HasPrefix(s, "[") {
			// JSON lists: compare as lists (Go and Python space them differently).
			var a, b []string
			json.Unmarshal([]byte(s), &a)
			json.Unmarshal([]byte(v.(string)), &b)
			if slices.Equal(a, b) {
				continue
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("service environment %s = %v, want %v", k, got, v)
		}
	}
	if _, ok := env["JUPYTERHUB_ACTIVITY_URL"]; ok {
		t.Errorf("a service has no activity URL, as in JupyterHub; got %v", env["JUPYTERHUB_ACTIVITY_URL"])
	}

	ctx, shot := newChrome(t, 3*time.Minute)
	var location, greeting, model string
	err := chromedp.Run(ctx,
		chromedp.Navigate(h.base+"/services/whoami/"),
		chromedp.WaitVisible(`#username`),
		chromedp.Location(&location),
		shot("service-login.png"),
	)
	if err != nil {
		t.Fatalf("open the service logged out: %v", err)
	}
	if !strings.Contains(location, "/hub/login") {
		t.Fatalf("a browser that is not logged in is at %s, want the hub's login", location)
	}
	err = chromedp.Run(ctx,
		chromedp.SendKeys(`#username`, "alice"),
		chromedp.SendKeys(`#password`, "alice-pass"),
		chromedp.Submit(`#password`),
		chromedp.WaitVisible(`#greeting`),
		chromedp.Location(&location),
		chromedp.Text(`#greeting`, &greeting),
		chromedp.Text(`#model`, &model),
		shot("service-greeting.png"),
	)
	if err != nil {
		t.Fatalf("log in and come back to the service: %v", err)
	}
	if greeting != "Hello, alice!" || location != h.base+"/services/whoami/" {
		t.Fatalf("at %s the service says %q, want \"Hello, alice!\" at /services/whoami/", location, greeting)
	}
	var m struct {
		Kind, Name string
		Scopes     []string
	}
	if err := json.Unmarshal([]byte(model), &m); err != nil {
		t.Fatalf("the model the service got: %v\n%s", err, model)
	}
	// The token the service holds for alice opens this service and
	// identifies her; nothing of her servers or tokens.
	if m.Name != "alice" || m.Kind != "user" || !slices.Contains(m.Scopes, "access:services!service=whoami") ||
		slices.ContainsFunc(m.Scopes, func(s string) bool { return strings.Contains(s, "servers") || strings.Contains(s, "tokens") }) {
		t.Errorf("the service's OAuth token for alice: %+v", m)
	}

	// Kill the service: the hub starts it again, and the browser still
	// gets in (its cookie died with the old process; OAuth runs again).
	// carol is an admin once the hub has seen her log in.
	newBrowser(t, h.base).login("carol", "carol-pass")
	admin := newToken(t, h.site, "carol")
	pidOf := func() int {
		code, body := api(t, h.base, admin, "GET", "/hub/api/services/whoami", nil)
		var sm struct{ PID int }
		if code != 200 || json.Unmarshal(body, &sm) != nil {
			t.Fatalf("GET /hub/api/services/whoami: %d %s", code, body)
		}
		return sm.PID
	}
	old := pidOf()
	if old == 0 {
		t.Fatal("the managed service has no pid in its model")
	}
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the service (pid %d): %v", old, err)
	}
	waitFor(t, 30*time.Second, "the hub to restart the service", func() bool {
		p := pidOf()
		return p != 0 && p != old
	})
	waitService(t, h.base, "whoami")
	greeting = ""
	err = chromedp.Run(ctx,
		chromedp.Navigate(h.base+"/services/whoami/"),
		chromedp.WaitVisible(`#greeting`),
		chromedp.Text(`#greeting`, &greeting),
		shot("service-after-restart.png"),
	)
	if err != nil || greeting != "Hello, alice!" {
		t.Fatalf("after the restart the service says %q (%v)", greeting, err)
	}
	if !strings.Contains(h.log.String(), "service exited; restarting") {
		t.Errorf("the hub's log does not say the service exited")
	}
}

// TestServiceExternal runs the whoami service as a site runs an external
// one (its own process, started here, with the environment the site
// gives it), with a token file, scopes and allowed_groups, and the
// confirmation page: its token uses the REST API with exactly its
// scopes; an admin confirms and is greeted; alice, outside the allowed
// group, is refused.
func TestServiceExternal(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port, svcPort := freePort(t), freePort(t)
	b := make([]byte, 32)
	rand.Read(b)
	token := hex.EncodeToString(b)
	tokenFile := filepath.Join(t.TempDir(), "ext.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	site := writeSite(t, c, port, fmt.Sprintf(`services:
  - name: ext
    url: http://127.0.0.1:%d
    api_token_file: %s
    scopes: [list:users, "read:services!service"]
    allowed_groups: ["cn=hpc-admins,ou=groups,dc=example,dc=org"]
`, svcPort, tokenFile))
	h := startHub(t, c, site, port)

	svc := exec.Command("/usr/bin/python3", whoamiScript(t))
	svc.Env = append(os.Environ(),
		"JUPYTERHUB_SERVICE_NAME=ext",
		"JUPYTERHUB_SERVICE_PREFIX=/services/ext/",
		fmt.Sprintf("JUPYTERHUB_SERVICE_URL=http://127.0.0.1:%d", svcPort),
		fmt.Sprintf("JUPYTERHUB_API_URL=%s/hub/api", h.base),
		"JUPYTERHUB_API_TOKEN="+token,
		"JUPYTERHUB_CLIENT_ID=service-ext",
	)
	out := &strings.Builder{}
	svc.Stdout, svc.Stderr = out, out
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		svc.Process.Kill()
		svc.Wait()
		if t.Failed() {
			t.Logf("service output:\n%s", out)
		}
	})
	waitService(t, h.base, "ext")

	// The service's own token: a service, with its scopes.
	code, body := api(t, h.base, token, "GET", "/hub/api/user", nil)
	var self map[string]any
	json.Unmarshal(body, &self)
	if code != 200 || self["kind"] != "service" || self["name"] != "ext" || self["session_id"] != nil {
		t.Errorf("GET /hub/api/user with the service's token: %d %s", code, body)
	}
	if sc := fmt.Sprint(self["scopes"]); !strings.Contains(sc, "list:users") || !strings.Contains(sc, "read:services!service=ext") {
		t.Errorf("the service's scopes: %s", sc)
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/hub/api/users", 200},              // list:users
		{"/hub/api/users/alice", 403},        // no read:users
		{"/hub/api/services/ext", 200},       // read:services!service
		{"/hub/api/services", 403},           // no list:services
		{"/hub/api/users/alice/tokens", 403}, // nothing of a user's
		{"/hub/api/oauth2/token", 405},       // GET is not a route
	} {
		if code, body := api(t, h.base, token, "GET", tc.path, nil); code != tc.want {
			t.Errorf("GET %s with the service's token: %d, want %d\n%s", tc.path, code, tc.want, body)
		}
	}

	// Not logged in: the service sends the browser to the hub's OAuth,
	// which sends it to the login page.
	anon := newBrowser(t, h.base)
	code, _, hdr := anon.get("/services/ext/")
	loc := hdr.Get("Location")
	if code != http.StatusFound || !strings.HasPrefix(loc, "/hub/api/oauth2/authorize?") {
		t.Fatalf("logged out, /services/ext/ answers %d → %s", code, loc)
	}
	if code, _, hdr = anon.get(loc); code != http.StatusFound || !strings.HasPrefix(hdr.Get("Location"), "/hub/login?next=") {
		t.Fatalf("logged out, authorize answers %d → %s", code, hdr.Get("Location"))
	}

	// alice is not in the allowed group.
	alice := newBrowser(t, h.base)
	alice.login("alice", "alice-pass")
	_, _, hdr = alice.get("/services/ext/")
	if code, body, _ := alice.get(hdr.Get("Location")); code != http.StatusForbidden || !strings.Contains(body, "permission to access the service ext") {
		t.Errorf("alice at the authorize step: %d\n%s", code, body)
	}

	// carol (an admin) confirms, then is greeted.
	carol := newBrowser(t, h.base)
	carol.login("carol", "carol-pass")
	_, _, hdr = carol.get("/services/ext/")
	code, page, _ := carol.get(hdr.Get("Location"))
	if code != 200 || !strings.Contains(page, "Authorize access") {
		t.Fatalf("carol at the authorize step: %d\n%s", code, page)
	}
	form := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	req, _ := http.NewRequest("POST", h.base+"/hub/api/oauth2/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", h.base)
	resp, err := carol.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(cb, "/services/ext/oauth_callback?code=") {
		t.Fatalf("confirming answers %d → %s", resp.StatusCode, cb)
	}
	code, _, hdr = carol.get(cb)
	if code != http.StatusFound || hdr.Get("Location") != "/services/ext/" {
		t.Fatalf("the service's callback answers %d → %s", code, hdr.Get("Location"))
	}
	if code, body, _ := carol.get("/services/ext/"); code != 200 || !strings.Contains(body, "Hello, carol!") {
		t.Fatalf("carol at the service: %d\n%s", code, body)
	}
}

// htmlUnescape undoes html/template's escaping of attribute values.
func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}
