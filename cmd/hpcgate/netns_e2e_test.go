package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"hpcgate/batch/batchtest"
)

// netnsScript brings the three-namespace topology up and down; a person
// can run it by hand too (see its header).
const netnsScript = "../../testdata/cluster/netns.sh"

// netnsPoll is the site's poll_interval in this test: the reverse forward
// and the proxy's tunnels must be back within one interval after the login
// node's sshd drops the hub's connection.
const netnsPoll = 5 * time.Second

// topology is the running netns.sh topology: its netns.env.
type topology map[string]string

// upTopology runs netns.sh up, with netns.sh down registered first so that
// a failed or partial start is undone too. It fails (never skips) when the
// machine cannot create namespaces, saying why.
func upTopology(t *testing.T, c batchtest.Cluster) topology {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the network-namespace test must run as root: it creates namespaces, veth links and a route")
	}
	// sshd reads keys as the users it logs in, so every directory down to
	// the state must be traversable.
	state, err := os.MkdirTemp("", "hpcgate-netns-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(state, 0o755)
	cluster := c.Get(t, "STATE")
	t.Cleanup(func() {
		out, err := exec.Command(netnsScript, "down", state, cluster).CombinedOutput()
		if err != nil {
			t.Errorf("netns.sh down: %v\n%s", err, out)
		}
		if t.Failed() {
			for _, f := range []string{"ssh/sshd.out", "slurm/slurmctld.log", "slurm/slurmd.log"} {
				b, _ := os.ReadFile(filepath.Join(state, f))
				t.Logf("%s:\n%s", f, tail(string(b), 3000))
			}
		}
		os.RemoveAll(state)
	})
	out, err := exec.Command(netnsScript, "up", state, cluster).CombinedOutput()
	if err != nil {
		t.Fatalf("cannot build the network-namespace topology (netns.sh up): %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(state, "netns.env"))
	if err != nil {
		t.Fatal(err)
	}
	topo := topology{"STATE": state, "CLUSTER": cluster}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			topo[k] = v
		}
	}
	return topo
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// inCompute runs a bash script in the compute namespace, as a job there
// would, and returns its output and error.
func inCompute(topo topology, script string) (string, error) {
	out, err := exec.Command("nsenter", "--net=/run/netns/"+topo["NS_COMPUTE"], "bash", "-c", script).CombinedOutput()
	return string(out), err
}

// fromCompute fetches url with bash alone from the compute namespace and
// returns the status line ("" if nothing answered).
func fromCompute(topo topology, host string, port int, path string) string {
	// Short timeouts: a probe caught by a dying sshd must not hide for
	// long that the next one would succeed.
	out, _ := inCompute(topo, fmt.Sprintf(`exec 3<>/dev/tcp/%s/%d || exit 1
printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' >&3
timeout 1 head -n 1 <&3`, host, port, path, host))
	if !strings.HasPrefix(out, "HTTP/") {
		return ""
	}
	return strings.TrimSpace(out)
}

// netnsSite is the site file: the hub listens on its side of the hub↔login
// link (so only the network decides who reaches it), and the cluster's jobs
// reach the hub API through the login node's reverse forward.
func netnsSite(t *testing.T, c batchtest.Cluster, topo topology, port int) string {
	t.Helper()
	dir := t.TempDir()
	login, sshPort, _ := strings.Cut(topo["SSH_ADDR"], ":")
	site := fmt.Sprintf(`hub:
  listen: %[1]s:%[2]d
  public_url: http://%[1]s:%[2]d
  data_dir: %[3]s
  log_level: debug
ldap:
  url: %[4]s
  start_tls: true
  ca_file: %[5]s
  bind_dn: %[6]s
  bind_password_file: %[7]s
  user_base_dn: ou=people,dc=example,dc=org
  allowed_groups: ["cn=hpc-users,ou=groups,dc=example,dc=org"]
clusters:
  - name: isolated
    title: Compute nodes without a route to the hub
    scheduler: slurm
    login:
      host: %[8]s
      port: %[9]s
      known_hosts: %[10]s
      auth: certificate
      user_ca_key: %[11]s
      service_user: hpcgate
    hub_api: reverse-tunnel
    hub_api_bind: %[12]s
    poll_interval: %[13]s
    fast_poll_interval: 1s
    start_timeout: 2m
    app:
      command: [jupyterhub-singleuser, --ip=0.0.0.0, "--port={port}"]
      # Activity reports every few seconds rather than every five minutes,
      # so the test sees them arrive through the forward.
      setup: ["export JUPYTERHUB_ACTIVITY_INTERVAL=3"]
    profiles:
      - name: small
        title: Small
        cores: {value: 1}
        walltime: {value: 1h}
`, topo["HUB_IP"], port, dir, c.Get(t, "LDAP_URL"), c.Get(t, "LDAP_CA_FILE"), c.Get(t, "LDAP_BIND_DN"),
		c.Get(t, "LDAP_BIND_PASSWORD_FILE"), login, sshPort, topo["SSH_KNOWN_HOSTS"], c.Get(t, "SSH_USER_CA"),
		topo["HUB_API_BIND"], netnsPoll)
	path := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(path, []byte(site), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// logFile is the hub's log, written by the hub process into a file the test
// reads while it runs.
type logFile string

func (l logFile) String() string { b, _ := os.ReadFile(string(l)); return string(b) }

// startNetnsHub runs `hpcgate serve` on site until the test ends.
func startNetnsHub(t *testing.T, site, base string) logFile {
	t.Helper()
	log := logFile(filepath.Join(t.TempDir(), "hub.log"))
	f, err := os.Create(string(log))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "serve", "-f", site)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Error("hub did not stop on SIGTERM")
		}
		if t.Failed() {
			t.Logf("hub log:\n%s", tail(log.String(), 20000))
		}
	})
	waitFor(t, 30*time.Second, "the hub to serve", func() bool {
		resp, err := http.Get(base + "/hub/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return log
}

// TestNetnsReverseTunnel is the deployment where compute nodes reach the
// login node and nothing else: the hub on one side, the login node (sshd,
// slurmctld) in a namespace of its own, the compute node (slurmd, so the
// jobs) in a third, with no forwarding on the login node. The hub API
// reaches the jobs only through the reverse forward on the hub's SSH
// connection. It proves the isolation first, then runs alice's whole flow
// in Chromium, then drops the hub's SSH connection mid-session.
func TestNetnsReverseTunnel(t *testing.T) {
	c := batchtest.LoadCluster(t)
	topo := upTopology(t, c)
	port := freePort(t)
	base := fmt.Sprintf("http://%s:%d", topo["HUB_IP"], port)
	site := netnsSite(t, c, topo, port)
	if out, err := exec.Command(binary, "check-config", "-connect", "-f", site).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "reverse forward of the hub API on "+topo["HUB_API_BIND"]+": ok") {
		t.Fatalf("check-config -connect: %v\n%s", err, out)
	}
	hubLog := startNetnsHub(t, site, base)
	bindHost, bindPort, _ := strings.Cut(topo["HUB_API_BIND"], ":")
	var fport int
	fmt.Sscan(bindPort, &fport)

	// Isolation: the hub listens on its link to the login node, which the
	// login node reaches and the compute node does not; the compute node
	// reaches the hub API only at the forwarded address, where nothing but
	// the API is served.
	if out, err := exec.Command("nsenter", "--net=/run/netns/"+topo["NS_LOGIN"], "bash", "-c",
		fmt.Sprintf("exec 3<>/dev/tcp/%s/%d", topo["HUB_IP"], port)).CombinedOutput(); err != nil {
		t.Fatalf("the login namespace cannot reach the hub at %s:%d (the control for the isolation check): %v %s", topo["HUB_IP"], port, err, out)
	}
	for _, host := range []string{topo["HUB_IP"], topo["LOGIN_IP"], "127.0.0.1"} {
		if out, err := inCompute(topo, fmt.Sprintf("timeout 5 bash -c 'exec 3<>/dev/tcp/%s/%d'", host, port)); err == nil {
			t.Fatalf("the compute namespace reached %s:%d: it must not reach the hub (%s)", host, port, out)
		}
	}
	if out, _ := inCompute(topo, "ip route; cat /proc/sys/net/ipv4/ip_forward"); strings.Contains(out, "default") {
		t.Fatalf("the compute namespace has a default route:\n%s", out)
	}
	if got := fromCompute(topo, bindHost, fport, "/hub/api"); !strings.Contains(got, " 200") {
		t.Fatalf("GET /hub/api from the compute namespace through the forward: %q, want 200", got)
	}
	if got := fromCompute(topo, bindHost, fport, "/hub/login"); !strings.Contains(got, " 404") {
		t.Fatalf("GET /hub/login from the compute namespace through the forward: %q, want 404 (only the API is forwarded)", got)
	}

	// alice in Chromium: login (LDAP), spawn, queue, the notebook opened
	// through the hub's OAuth, a cell run over the proxied WebSocket.
	ctx, shot := newChrome(t, 5*time.Minute)
	var pending string
	err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/hub/login"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "alice"),
		chromedp.SendKeys(`#password`, "alice-pass"),
		chromedp.Submit(`#password`),
		chromedp.WaitVisible(`.topbar`),
		chromedp.Navigate(base+"/hub/spawn"),
		chromedp.WaitVisible(`#spawn-form button[type=submit]`),
		chromedp.Click(`#spawn-form button[type=submit]`),
		chromedp.WaitVisible(`#pending`),
		chromedp.Location(&pending),
		shot("netns-pending.png"),
	)
	if err != nil || !strings.Contains(pending, "/hub/spawn-pending/alice") {
		t.Fatalf("login and spawn: %v (at %s)", err, pending)
	}
	var location string
	if err := chromedp.Run(ctx, chromedp.WaitVisible(`#notebook_list, #ipython-main-app`), chromedp.Location(&location), shot("netns-tree.png")); err != nil {
		t.Fatalf("waiting for the notebook tree: %v", err)
	}
	if !strings.Contains(location, "/user/alice/tree") {
		t.Fatalf("the notebook opened at %s, want /user/alice/tree", location)
	}
	tok := newToken(t, site, "alice")
	jobBefore := serverJob(t, base, tok)
	if !strings.Contains(jobBefore.Node, "cn1") {
		t.Fatalf("alice's server runs on %q, want the compute namespace's node cn1", jobBefore.Node)
	}
	// The OAuth exchange and the token check were the single-user server's
	// calls to the hub API: they can only have come through the forward.
	for _, path := range []string{"/hub/api/oauth2/token", "/hub/api/user"} {
		if !hubLogged(hubLog, path, topo["COMPUTE_IP"]) {
			t.Errorf("the hub logged no request for %s from the compute node %s", path, topo["COMPUTE_IP"])
		}
	}

	var nbPath string
	err = chromedp.Run(ctx, chromedp.Evaluate(`(async () => {
			const x = document.cookie.match(/_xsrf=([^;]+)/);
			const r = await fetch('/user/alice/api/contents', {method: 'POST',
				headers: {'Content-Type': 'application/json', 'X-XSRFToken': x ? decodeURIComponent(x[1]) : ''},
				body: JSON.stringify({type: 'notebook'})});
			return (await r.json()).path;
		})()`, &nbPath, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	if err != nil || nbPath == "" {
		t.Fatalf("create notebook: %v (%q)", err, nbPath)
	}
	if err := chromedp.Run(ctx, chromedp.Navigate(base+"/user/alice/notebooks/"+nbPath), chromedp.WaitVisible(`.CodeMirror`)); err != nil {
		t.Fatalf("open notebook: %v", err)
	}
	if out := runCell(t, ctx, 0, 60*time.Second); out != "42" {
		t.Fatalf("the cell printed %q, want 42", out)
	}
	chromedp.Run(ctx, shot("netns-notebook.png"))
	waitFor(t, 30*time.Second, "an activity report from the compute node through the forward", func() bool {
		return hubLogged(hubLog, "/hub/api/users/alice/activity", topo["COMPUTE_IP"])
	})

	// The login node's sshd restarts, dropping the hub's connection: the
	// reverse forward and the proxy's tunnel must be back within one poll
	// interval, and the same notebook answers again.
	setupsBefore := strings.Count(hubLog.String(), "ssh reverse forward up")
	dropped := time.Now()
	if out, err := exec.Command(netnsScript, "restart-sshd", topo["STATE"], topo["CLUSTER"]).CombinedOutput(); err != nil {
		t.Fatalf("netns.sh restart-sshd: %v\n%s", err, out)
	}
	restarted := time.Since(dropped)
	// Each path is probed on its own, so a probe stuck on one cannot
	// delay noticing the other.
	probe := func(ok func() bool) <-chan time.Duration {
		back := make(chan time.Duration, 1)
		go func() {
			for time.Since(dropped) < 4*netnsPoll {
				if ok() {
					back <- time.Since(dropped)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			back <- 0
		}()
		return back
	}
	var hubUp time.Duration // when the hub saw its forward back, for the log
	fwd := probe(func() bool {
		if hubUp == 0 && strings.Count(hubLog.String(), "ssh reverse forward up") > setupsBefore {
			hubUp = time.Since(dropped)
		}
		return hubUp != 0 && strings.Contains(fromCompute(topo, bindHost, fport, "/hub/api"), " 200")
	})
	prx := probe(func() bool { code, _, _ := getWithCookies(t, ctx, base+"/user/alice/api/status"); return code == 200 })
	forwardBack, proxyBack := <-fwd, <-prx
	if forwardBack == 0 || proxyBack == 0 {
		t.Fatalf("after the sshd restart: forward back after %v, proxy back after %v (0: not within %v)", forwardBack, proxyBack, 4*netnsPoll)
	}
	t.Logf("after the login node's sshd restart (%v of it in netns.sh): reverse forward back in %v (the hub had it at %v), proxy tunnel back in %v (poll interval %v)",
		restarted.Round(time.Millisecond), forwardBack.Round(time.Millisecond), hubUp.Round(time.Millisecond), proxyBack.Round(time.Millisecond), netnsPoll)
	if forwardBack > netnsPoll || proxyBack > netnsPoll {
		t.Errorf("tunnels back after %v and %v: longer than one poll interval (%v)", forwardBack, proxyBack, netnsPoll)
	}
	// The notebook's WebSocket went down with the connection; it
	// reconnects to the same kernel, which answers the next cell.
	if err := chromedp.Run(ctx, chromedp.Evaluate(`(() => { Jupyter.notebook.insert_cell_below('code', 0); return true })()`, nil)); err != nil {
		t.Fatal(err)
	}
	if out := runCell(t, ctx, 1, 90*time.Second); out != "42" {
		t.Fatalf("after the reconnect the cell printed %q, want 42", out)
	}
	chromedp.Run(ctx, shot("netns-notebook-after-drop.png"))
	if jobAfter := serverJob(t, base, tok); jobAfter.JobID != jobBefore.JobID {
		t.Fatalf("the server's job changed from %s to %s: the drop caused a new spawn", jobBefore.JobID, jobAfter.JobID)
	}
	activity := strings.Count(hubLog.String(), "/hub/api/users/alice/activity")
	waitFor(t, 30*time.Second, "an activity report through the re-established forward", func() bool {
		return strings.Count(hubLog.String(), "/hub/api/users/alice/activity") > activity
	})

	// Stop from the home page.
	err = chromedp.Run(ctx,
		chromedp.Evaluate(`Jupyter.notebook.set_dirty(false); window.onbeforeunload = null; true`, nil),
		chromedp.Navigate(base+"/hub/home"),
		chromedp.WaitVisible(`form[action*="/hub/stop/alice"] button`),
		chromedp.Click(`form[action*="/hub/stop/alice"] button`),
	)
	if err != nil {
		t.Fatalf("stop: %v", err)
	}
	waitFor(t, 60*time.Second, "alice's server to stop", func() bool {
		_, b := api(t, base, tok, "GET", "/hub/api/users/alice", nil)
		return !strings.Contains(string(b), `"pending":"stop"`) && !strings.Contains(string(b), `"ready":true`)
	})
	if out, _ := inCompute(topo, "ps -u alice -o comm= | grep -c jupyterhub-singleuser || true"); strings.TrimSpace(out) != "0" {
		t.Errorf("a single-user server still runs in the compute namespace after the stop (%s)", strings.TrimSpace(out))
	}
}

// runCell runs print(6*7) in cell i of the open notebook and returns what
// it printed.
func runCell(t *testing.T, ctx context.Context, i int, timeout time.Duration) string {
	t.Helper()
	var out string
	sel := fmt.Sprintf(`.cell:nth-child(%d) .output_area .output_text`, i+1)
	err := chromedp.Run(ctx,
		chromedp.Poll(`window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected()`, nil,
			chromedp.WithPollingTimeout(timeout)),
		chromedp.Evaluate(fmt.Sprintf(`(() => { const c = Jupyter.notebook.get_cell(%d); c.set_text('print(6*7)'); c.execute(); return true })()`, i), nil),
		chromedp.WaitVisible(sel),
		chromedp.Text(sel, &out),
	)
	if err != nil {
		t.Fatalf("run cell %d: %v", i, err)
	}
	return strings.TrimSpace(out)
}

// getWithCookies fetches url from inside the page, with its cookies, and
// returns the status (0 when the fetch failed).
func getWithCookies(t *testing.T, ctx context.Context, url string) (int, string, error) {
	var code int
	err := chromedp.Run(ctx, chromedp.Evaluate(fmt.Sprintf(`(async () => {
		try { const r = await fetch(%q, {cache: 'no-store'}); return r.status } catch (e) { return 0 } })()`, url),
		&code, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	return code, "", err
}

// hubLogged reports whether the hub logged a request for path from remote.
func hubLogged(log logFile, path, remote string) bool {
	sc := bufio.NewScanner(strings.NewReader(log.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, `msg="http request"`) && strings.Contains(l, "path="+path+" ") && strings.Contains(l, "remote="+remote) {
			return true
		}
	}
	return false
}

// serverInfo is the part of the REST API's server model the test compares.
type serverInfo struct {
	JobID string
	Node  string
}

// serverJob returns alice's default server's job id and node.
func serverJob(t *testing.T, base, tok string) serverInfo {
	t.Helper()
	code, b := api(t, base, tok, "GET", "/hub/api/users/alice", nil)
	if code != 200 {
		t.Fatalf("GET user: %d %s", code, b)
	}
	var u struct {
		Servers map[string]struct {
			HPCGate struct {
				JobID string `json:"job_id"`
				Node  string `json:"node"`
			} `json:"hpcgate"`
		} `json:"servers"`
	}
	if err := json.Unmarshal(b, &u); err != nil {
		t.Fatal(err)
	}
	srv, ok := u.Servers[""]
	s := srv.HPCGate
	if !ok || s.JobID == "" {
		t.Fatalf("alice has no server with a job: %s", b)
	}
	return serverInfo{s.JobID, s.Node}
}
