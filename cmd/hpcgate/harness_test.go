package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"hpcgate/batch/batchtest"
)

// binary is the hpcgate binary the end-to-end tests run, built once.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hpcgate-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "hpcgate")
	args := []string{"build", "-o", binary}
	if os.Getenv("HPCGATE_RACE") != "" { // the hub under the race detector
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build hpcgate: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// hub is one `hpcgate serve` process under test.
type hub struct {
	t       *testing.T
	site    string
	base    string // http://127.0.0.1:PORT
	cmd     *exec.Cmd
	log     *bytes.Buffer
	cluster batchtest.Cluster
}

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// siteFor writes a site file for the loopback cluster: the shipped
// local.yaml with a private data dir and port, fast polling, and two test
// profiles: "later" keeps its job queued (BeginTime) until released.
func siteFor(t *testing.T, c batchtest.Cluster, port int) string {
	t.Helper()
	return writeSite(t, c, port, "")
}

// pbsCluster is a second cluster for sites that test PBS: the stand-in,
// reached in sudo mode through the same login node.
func pbsCluster(t *testing.T, c batchtest.Cluster) string {
	return fmt.Sprintf(`  - name: pbs
    title: Loopback PBS
    scheduler: pbs
    bin_dir: %s
    login:
      host: 127.0.0.1
      port: 2222
      known_hosts: %s
      auth: sudo
      service_user: hpcgate
      service_key: %s
    poll_interval: 3s
    fast_poll_interval: 1s
    start_timeout: 2m
    app:
      command: [jupyterhub-singleuser, --ip=127.0.0.1, "--port={port}"]
    profiles:
      - name: small
        title: Small on PBS
        partition: {choices: [workq, long], default: workq}
        cores: {value: 1}
        walltime: {min: 10m, max: 2h, default: 1h}
`, c.Get(t, "PBS_BIN"), c.Get(t, "SSH_KNOWN_HOSTS"), c.Get(t, "SSH_SERVICE_KEY"))
}

// writeSite writes the site file, with extra clusters appended.
func writeSite(t *testing.T, c batchtest.Cluster, port int, extra string) string {
	t.Helper()
	dir := t.TempDir()
	site := fmt.Sprintf(`hub:
  listen: 127.0.0.1:%[1]d
  public_url: http://127.0.0.1:%[1]d
  data_dir: %[2]s
  log_level: debug
ldap:
  url: %[3]s
  start_tls: true
  ca_file: %[4]s
  bind_dn: %[5]s
  bind_password_file: %[6]s
  user_base_dn: ou=people,dc=example,dc=org
  allowed_groups: ["cn=hpc-users,ou=groups,dc=example,dc=org"]
  admin_groups: ["cn=hpc-admins,ou=groups,dc=example,dc=org"]
clusters:
  - name: local
    title: Loopback Slurm
    scheduler: slurm
    login:
      host: 127.0.0.1
      port: 2222
      known_hosts: %[7]s
      auth: certificate
      user_ca_key: %[8]s
      service_user: hpcgate
    poll_interval: 3s
    fast_poll_interval: 1s
    start_timeout: 2m
    app:
      command: [jupyterhub-singleuser, --ip=127.0.0.1, "--port={port}"]
    profiles:
      - name: small
        title: Small
        partition: {choices: [debug, long], default: debug}
        cores: {value: 1}
        memory: {value: 1G}
        walltime: {min: 10m, max: 2h, default: 1h}
      - name: later
        title: Starts in an hour (tests)
        cores: {value: 1}
        walltime: {value: 30m}
        extra: [--begin=now+1hour]
      - name: broken
        title: A partition this cluster does not have (tests)
        partition: {value: nosuch}
        walltime: {value: 30m}
`, port, dir, c.Get(t, "LDAP_URL"), c.Get(t, "LDAP_CA_FILE"), c.Get(t, "LDAP_BIND_DN"),
		c.Get(t, "LDAP_BIND_PASSWORD_FILE"), c.Get(t, "SSH_KNOWN_HOSTS"), c.Get(t, "SSH_USER_CA"))
	path := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(path, []byte(site+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func startHub(t *testing.T, c batchtest.Cluster, site string, port int) *hub {
	t.Helper()
	h := &hub{t: t, site: site, base: fmt.Sprintf("http://127.0.0.1:%d", port), log: &bytes.Buffer{}, cluster: c}
	h.start()
	t.Cleanup(func() {
		h.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("hub log:\n%s", h.log)
		}
	})
	return h
}

func (h *hub) start() {
	h.t.Helper()
	h.cmd = exec.Command(binary, "serve", "-f", h.site)
	h.cmd.Stdout = h.log
	h.cmd.Stderr = h.log
	if err := h.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(h.base + "/hub/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.t.Fatalf("hub did not come up:\n%s", h.log)
}

// stop ends the hub with sig and waits for it.
func (h *hub) stop(sig syscall.Signal) {
	if h.cmd == nil || h.cmd.Process == nil {
		return
	}
	h.cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		h.cmd.Process.Kill()
		<-done
		h.t.Errorf("hub did not stop on %v", sig)
	}
	h.cmd = nil
}

// browser is a cookie-keeping HTTP client that does not follow redirects.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{
		Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

var reXSRF = regexp.MustCompile(`name="_xsrf" value="([^"]+)"`)

func (b *browser) get(path string) (int, string, http.Header) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

// postForm fetches page for its XSRF token, then posts form to action.
func (b *browser) postForm(page, action string, form url.Values) (int, string, http.Header) {
	b.t.Helper()
	_, body, _ := b.get(page)
	m := reXSRF.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no _xsrf on %s:\n%s", page, body)
	}
	form.Set("_xsrf", m[1])
	req, _ := http.NewRequest(http.MethodPost, b.base+action, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("POST %s: %v", action, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out), resp.Header
}

func (b *browser) login(user, password string) {
	b.t.Helper()
	code, body, hdr := b.postForm("/hub/login", "/hub/login", url.Values{"username": {user}, "password": {password}})
	if code != http.StatusFound && code != http.StatusSeeOther {
		b.t.Fatalf("login %s: %d %s\n%s", user, code, hdr.Get("Location"), body)
	}
}

// api calls the hub's REST API with token.
func api(t *testing.T, base, token, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, r)
	req.Header.Set("Authorization", "token "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// newToken runs `hpcgate token USER` against the hub's site file.
func newToken(t *testing.T, site, user string) string {
	t.Helper()
	out, err := exec.Command(binary, "token", "-f", site, user).Output()
	if err != nil {
		t.Fatalf("hpcgate token %s: %v", user, err)
	}
	return strings.TrimSpace(string(out))
}

// progressEvent is one event of the progress stream.
type progressEvent struct {
	Progress int    `json:"progress"`
	Message  string `json:"message"`
	State    string `json:"state"`
	Reason   string `json:"reason"`
	JobID    string `json:"job_id"`
	Node     string `json:"node"`
	Ready    bool   `json:"ready"`
	Failed   bool   `json:"failed"`
	URL      string `json:"url"`
}

// follow reads the progress stream until until returns true or timeout.
func follow(t *testing.T, base, token, user string, timeout time.Duration, until func(progressEvent) bool) []progressEvent {
	t.Helper()
	return followEvents(t, base, token, user, timeout, false, until)
}

// followEvents is follow; wantFailure lets a failed event through to until.
func followEvents(t *testing.T, base, token, user string, timeout time.Duration, wantFailure bool, until func(progressEvent) bool) []progressEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/hub/api/users/"+user+"/server/progress", nil)
	req.Header.Set("Authorization", "token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("progress: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("progress: %d %s", resp.StatusCode, b)
	}
	var events []progressEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev progressEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("bad event %q: %v", line, err)
		}
		events = append(events, ev)
		if until(ev) {
			return events
		}
		if ev.Failed && !wantFailure {
			t.Fatalf("spawn failed: %s", ev.Message)
		}
	}
	t.Fatalf("progress stream ended without the awaited event (%v); events: %+v", ctx.Err(), events)
	return nil
}
