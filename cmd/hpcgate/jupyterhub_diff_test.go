package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"hpcgate/batch/batchtest"
)

// TestJupyterHubDifferential runs one script of REST calls against
// Debian's JupyterHub 3.0 (DummyAuthenticator, a local process spawner)
// and against hpcgate on the loopback cluster, and compares each answer's
// status and the key sets of its JSON body, recursively. The only
// differences allowed are the documented ones, in diffAllowed.
func TestJupyterHubDifferential(t *testing.T) {
	if _, err := exec.LookPath("jupyterhub"); err != nil {
		t.Fatalf("jupyterhub (Debian's 3.0) is not installed; the cluster scripts install it: %v", err)
	}
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	// Named servers and one external service on both sides
	// (jupyterhub_diff_named_test.go); nothing listens at its url: the
	// REST API does not ask it.
	svcToken, svcURL := diffServiceToken(), fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	tokenFile := filepath.Join(t.TempDir(), "ext.token")
	if err := os.WriteFile(tokenFile, []byte(svcToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, c, writeSite(t, c, port, fmt.Sprintf(diffSiteExtra, svcURL, tokenFile)), port)
	// carol's admin flag comes from the directory at her login.
	newBrowser(t, h.base).login("carol", "carol-pass")
	carolTok := newToken(t, h.site, "carol") // carol first, as JupyterHub creates its admins first
	hpc := target{name: "hpcgate", base: h.base,
		tokens: map[string]string{"alice": newToken(t, h.site, "alice"), "carol": carolTok, "ext": svcToken}}
	jh := startJupyterHub(t, svcURL, svcToken)

	want := runScript(t, jh)
	got := runScript(t, hpc)
	if len(want) != len(got) {
		t.Fatalf("the script ran %d steps on JupyterHub and %d on hpcgate", len(want), len(got))
	}
	for i := range want {
		w, g := want[i], got[i]
		if w.status != g.status {
			t.Errorf("%s: status %d on JupyterHub, %d on hpcgate\n jupyterhub: %.300s\n hpcgate: %.300s", w.step, w.status, g.status, w.body, g.body)
		}
		for _, d := range diffShapes("", w.shape, g.shape) {
			if !allowedDiff(d) {
				t.Errorf("%s: %s\n jupyterhub: %.400s\n hpcgate: %.400s", w.step, d, w.body, g.body)
			}
		}
	}
}

// diffAllowed are the documented differences, as "+path" (a key only
// hpcgate has) or "-path" (a key only JupyterHub has), path with "*"
// for any map key or list index.
var diffAllowed = []string{
	// hpcgate's batch fields, one extra key of each server model.
	"+.servers.*.hpcgate", "+.*.servers.*.hpcgate", "+.items.*.servers.*.hpcgate",
	// GET /hub/api/info names hpcgate's version and clusters.
	"+.hpcgate",
	// The token model says which kind of token it is (api, server, oauth).
	"+.token_kind", "+.api_tokens.0.token_kind",
	// A route's data: where the server runs (cluster, node), and the
	// last activity, which configurable-http-proxy adds too (the reference
	// hub here runs without it).
	"+.*.data.hpcgate", "+.*.data.last_activity",
	// A group says where it comes from (hub or directory) and, for an
	// LDAP group, its DNs; in a group, a list of groups and a page.
	"+.*.hpcgate", "+.items.*.hpcgate",
}

// allowedDiff reports whether a difference is documented. A server's
// "state" is the spawner's own (batchspawner's {job_id, job_status}
// against LocalProcessSpawner's {pid}), so what is inside it may differ.
func allowedDiff(d string) bool {
	path := d[1:]
	// user_options are the spawner's options (hpcgate's: partition,
	// cores, memory, gpus, walltime; none for a local process spawner).
	if strings.Contains(path, ".state.") || strings.Contains(path, ".user_options.") {
		return true
	}
	for _, a := range diffAllowed {
		if matchPath(a[1:], path) && a[0] == d[0] {
			return true
		}
	}
	return false
}

func matchPath(pattern, path string) bool {
	p, q := strings.Split(pattern, "."), strings.Split(path, ".")
	if len(p) != len(q) {
		return false
	}
	for i := range p {
		if p[i] != "*" && p[i] != q[i] {
			return false
		}
	}
	return true
}

// shape is a JSON value with its scalars dropped: objects keep their
// keys (map-like objects keyed by data are "*"), lists their first item.
func shapeOf(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = shapeOf(e)
		}
		return out
	case []any:
		if len(x) == 0 {
			return []any{}
		}
		return []any{shapeOf(x[0])}
	}
	return nil
}

// diffShapes lists keys one side has and the other lacks, with their path.
func diffShapes(path string, a, b any) []string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		var out []string
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			av, ain := am[k]
			bv, bin := bm[k]
			p := path + "." + k
			switch {
			case !bin:
				out = append(out, "-"+p)
			case !ain:
				out = append(out, "+"+p)
			default:
				out = append(out, diffShapes(p, av, bv)...)
			}
		}
		return out
	}
	al, alok := a.([]any)
	bl, blok := b.([]any)
	if alok && blok && len(al) > 0 && len(bl) > 0 {
		return diffShapes(path+".0", al[0], bl[0])
	}
	return nil
}

type target struct {
	name, base string
	tokens     map[string]string
}

type answer struct {
	step   string
	status int
	body   string
	shape  any
}

// call sends one request as who ("" for no credentials).
func (tg target) call(t *testing.T, who, method, path, body string, header ...string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, tg.base+path, r)
	if who != "" {
		req.Header.Set("Authorization", "token "+tg.tokens[who])
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", tg.name, method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// runScript is the script of REST calls; it returns one answer per step.
// Statuses JupyterHub may give either way depending on timing (201 or
// 202 for a start, 202 or 204 for a stop) are recorded as their class.
func runScript(t *testing.T, tg target) []answer {
	t.Helper()
	var out []answer
	record := func(step string, status int, body []byte) {
		a := answer{step: step, status: status, body: string(body)}
		var v any
		if len(bytes.TrimSpace(body)) > 0 && json.Unmarshal(body, &v) == nil {
			a.shape = shapeOf(v)
		}
		out = append(out, a)
	}
	do := func(who, method, path, body string, header ...string) []byte {
		t.Helper()
		status, b := tg.call(t, who, method, path, body, header...)
		record(who+" "+method+" "+path, status, b)
		return b
	}
	do("", "GET", "/hub/api/", "")
	do("", "GET", "/hub/api/user", "")
	do("alice", "GET", "/hub/api/user", "")
	do("carol", "GET", "/hub/api/users", "")
	do("carol", "GET", "/hub/api/users?limit=1", "", "Accept", "application/jupyterhub-pagination+json")
	do("alice", "GET", "/hub/api/users", "")
	do("carol", "GET", "/hub/api/users/alice", "")
	do("alice", "GET", "/hub/api/users/carol", "")
	do("carol", "GET", "/hub/api/users/nobody", "")
	do("carol", "GET", "/hub/api/info", "")
	do("alice", "GET", "/hub/api/info", "")

	// Tokens.
	var tok struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	json.Unmarshal(do("alice", "POST", "/hub/api/users/alice/tokens", `{"note": "diff", "expires_in": 3600}`), &tok)
	do("alice", "GET", "/hub/api/users/alice/tokens", "")
	do("alice", "GET", "/hub/api/users/alice/tokens/"+tok.ID, "")
	do("carol", "GET", "/hub/api/authorizations/token/"+tok.Token, "")
	do("alice", "DELETE", "/hub/api/users/alice/tokens/"+tok.ID, "")
	do("alice", "GET", "/hub/api/users/alice/tokens/"+tok.ID, "")
	do("carol", "GET", "/hub/api/authorizations/token/"+tok.Token, "")
	// A token asked for with scopes has those scopes, which its owner
	// must hold (an unknown scope is a 500 on JupyterHub 3.0: not
	// compared).
	json.Unmarshal(do("alice", "POST", "/hub/api/users/alice/tokens", `{"scopes": ["read:users!user=alice"]}`), &tok)
	do("alice", "DELETE", "/hub/api/users/alice/tokens/"+tok.ID, "")
	do("alice", "POST", "/hub/api/users/alice/tokens", `{"scopes": ["admin:users"]}`)
	do("alice", "POST", "/hub/api/users/alice/tokens", `{"scopes": ["read:users!user=carol"]}`)

	// The default server.
	status, b := tg.call(t, "alice", "POST", "/hub/api/users/alice/server", "{}")
	if status == 201 || status == 202 {
		status = 202
	}
	record("alice POST /hub/api/users/alice/server", status, b)
	tg.waitServer(t, func(s map[string]any) bool { return s != nil && s["ready"] == true }, "ready")
	do("alice", "GET", "/hub/api/users/alice", "")
	do("carol", "GET", "/hub/api/users", "")
	do("alice", "POST", "/hub/api/users/alice/server", "{}")
	do("carol", "GET", "/hub/api/proxy", "")
	status, b = tg.call(t, "alice", "DELETE", "/hub/api/users/alice/server", "")
	if status == 202 || status == 204 {
		status = 204
	}
	record("alice DELETE /hub/api/users/alice/server", status, b)
	tg.waitServer(t, func(s map[string]any) bool { return s == nil }, "gone")
	do("alice", "GET", "/hub/api/users/alice", "")
	do("alice", "GET", "/hub/api/users/alice?include_stopped_servers", "")
	do("alice", "DELETE", "/hub/api/users/alice/server", "")

	namedServerSteps(t, tg, do, record) // jupyterhub_diff_named_test.go
	serviceSteps(do)

	groupAndUserSteps(do) // jupyterhub_diff_groups_test.go

	// Errors.
	do("alice", "POST", "/hub/api/users/alice/server", "{not json")
	do("alice", "POST", "/hub/api/users/carol/server", "{}")
	do("alice", "GET", "/hub/api/nosuch", "")
	return out
}

// waitServer polls alice's default server until ok.
func (tg target) waitServer(t *testing.T, ok func(map[string]any) bool, what string) {
	t.Helper()
	tg.waitNamed(t, "", ok, what)
}

// waitNamed polls alice's server name until ok.
func (tg target) waitNamed(t *testing.T, name string, ok func(map[string]any) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		_, b := tg.call(t, "alice", "GET", "/hub/api/users/alice", "")
		var u struct {
			Servers map[string]map[string]any `json:"servers"`
		}
		json.Unmarshal(b, &u)
		if ok(u.Servers[name]) {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s: alice's server %q never %s", tg.name, name, what)
}

// jupyterhubConfig is the reference hub: Debian's JupyterHub 3.0 with
// the DummyAuthenticator, a local process spawner, its own sqlite
// database, alice and carol (admin) with one API token each. Debian's
// configurable-http-proxy does not run as the cluster scripts install it
// (--no-install-recommends leaves out its node modules), and the REST API
// needs no proxy: the test talks to the hub's own port, and the routing
// table is kept by a proxy class that only remembers routes, in the shape
// CHP returns them.
const jupyterhubConfig = `
from jupyterhub.proxy import Proxy

class MemoryProxy(Proxy):
    routes = {}

    async def add_route(self, routespec, target, data):
        self.routes[routespec] = {"routespec": routespec, "target": target, "data": data}

    async def delete_route(self, routespec):
        self.routes.pop(routespec, None)

    async def get_all_routes(self):
        return dict(self.routes)

c.JupyterHub.proxy_class = MemoryProxy
c.Proxy.should_start = False
c.JupyterHub.bind_url = "http://127.0.0.1:%[3]d/"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = %[2]d
c.JupyterHub.db_url = "sqlite:///%[4]s/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "%[4]s/cookie_secret"
c.JupyterHub.pid_file = "%[4]s/jupyterhub.pid"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {"alice", "carol"}
c.Authenticator.admin_users = {"carol"}
c.JupyterHub.api_tokens = {"%[5]s": "alice", "%[6]s": "carol"}
c.JupyterHub.spawner_class = "simple"
c.Spawner.notebook_dir = "%[4]s"
c.Spawner.default_url = "/tree"
c.Spawner.args = ["--allow-root"] if %[7]v else []
c.Spawner.start_timeout = 120
c.JupyterHub.allow_named_servers = True
c.JupyterHub.named_server_limit_per_user = 1
c.JupyterHub.services = [{"name": "ext", "url": "%[8]s", "api_token": "%[9]s"}]
`

func startJupyterHub(t *testing.T, svcURL, svcToken string) target {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	tg := target{name: "jupyterhub", base: fmt.Sprintf("http://127.0.0.1:%d", port),
		tokens: map[string]string{"alice": "alice-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-differential-token",
			"carol": "carol-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-differential-token", "ext": svcToken}}
	root := "False"
	if os.Geteuid() == 0 {
		root = "True"
	}
	cfg := fmt.Sprintf(jupyterhubConfig, 0, port, freePort(t), dir, tg.tokens["alice"], tg.tokens["carol"], root, svcURL, svcToken)
	if err := os.WriteFile(filepath.Join(dir, "jupyterhub_config.py"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command("jupyterhub", "-f", filepath.Join(dir, "jupyterhub_config.py"))
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &log, &log
	// Its own process group, so the proxy and servers it starts end with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start jupyterhub: %v", err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("jupyterhub log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(tg.base + "/hub/api/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return tg
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("jupyterhub did not come up:\n%s", log.String())
	return tg
}
