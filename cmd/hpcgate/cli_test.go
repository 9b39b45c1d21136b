package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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

// run runs the built binary and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

func TestGenerateThenCheckConfig(t *testing.T) {
	code, example := run(t, "generate-config")
	if code != 0 {
		t.Fatalf("generate-config: exit %d", code)
	}
	path := filepath.Join(t.TempDir(), "x.yaml")
	os.WriteFile(path, []byte(example), 0o600)
	if code, out := run(t, "check-config", "-f", path); code != 0 {
		t.Fatalf("check-config of the generated example: exit %d\n%s", code, out)
	}

	// An unknown key and a walltime in words: both reported with file:line.
	bad := strings.Replace(example, "hub:\n", "hub:\n  listen_adress: 1.2.3.4:80\n", 1)
	bad = regexp.MustCompile(`walltime: \{min: [^,]+,`).ReplaceAllString(bad, "walltime: {min: 2 hours,")
	os.WriteFile(path, []byte(bad), 0o600)
	code, out := run(t, "check-config", "-f", path)
	if code != 1 {
		t.Fatalf("check-config of a bad file: exit %d, want 1\n%s", code, out)
	}
	line := strings.Count(bad[:strings.Index(bad, "listen_adress")], "\n") + 1
	for _, want := range []string{fmt.Sprintf("%s:%d:3: hub.listen_adress: unknown key", path, line), `"2 hours" is not a duration`} {
		if !strings.Contains(out, want) {
			t.Errorf("check-config output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(regexp.QuoteMeta(path) + `:\d+:\d+: clusters\[0\]\.profiles\[0\]\.walltime\.min`).MatchString(out) {
		t.Errorf("the walltime problem is not located by file:line:column and key path:\n%s", out)
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	for _, c := range []string{"serve", "check-config", "generate-config", "token", "upgrade-db", "version"} {
		code, out := run(t, c, "--help")
		if code != 0 || !strings.Contains(out, "Usage: hpcgate "+c) {
			t.Errorf("hpcgate %s --help: exit %d\n%s", c, code, out)
		}
	}
	if code, _ := run(t, "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
}

// TestServeTokenAndShutdown: serve creates the SQLite database in a fresh
// data dir, answers /hub/api; a token from `hpcgate token` authenticates
// /hub/api/user and is nowhere in the database; SIGTERM stops it cleanly.
func TestServeTokenAndShutdown(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	site := siteFor(t, c, port)
	h := startHub(t, c, site, port)
	db := filepath.Join(filepath.Dir(site), "hpcgate.sqlite")
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("no SQLite database in the data dir: %v", err)
	}
	code, body := api(t, h.base, "", "GET", "/hub/api", nil)
	var v struct{ Version string }
	if json.Unmarshal(body, &v); code != 200 || v.Version == "" {
		t.Fatalf("GET /hub/api: %d %s", code, body)
	}

	tok := newToken(t, site, "alice")
	code, body = api(t, h.base, tok, "GET", "/hub/api/user", nil)
	var u struct{ Name string }
	if json.Unmarshal(body, &u); code != 200 || u.Name != "alice" {
		t.Fatalf("GET /hub/api/user with alice's token: %d %s", code, body)
	}
	if code, _ := api(t, h.base, tok+"x", "GET", "/hub/api/user", nil); code != 403 {
		t.Errorf("a wrong token: %d, want 403", code)
	}
	for _, f := range []string{db, db + "-wal"} {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte(tok)) {
			t.Errorf("the token is stored in %s", f)
		}
	}

	h.cmd.Process.Signal(syscall.SIGTERM)
	err := h.cmd.Wait()
	h.cmd = nil
	if err != nil {
		t.Errorf("hpcgate serve after SIGTERM: %v\n%s", err, h.log)
	}
	if !strings.Contains(h.log.String(), "msg=stopped") {
		t.Errorf("no clean stop in the log:\n%s", h.log)
	}
}

func TestUpgradeDB(t *testing.T) {
	c := batchtest.LoadCluster(t)
	site := siteFor(t, c, freePort(t))
	code, out := run(t, "upgrade-db", "-f", site)
	if code != 0 || !strings.Contains(out, "up to date") && !strings.Contains(out, "applied") {
		t.Fatalf("upgrade-db: exit %d\n%s", code, out)
	}
}

// TestCheckConfigConnectDirectory: check-config -connect checks the LDAP
// directory as serve will use it, not only the login nodes: a directory
// that does not answer, a wrong service password and a group DN with a typo
// each fail it, with a line naming the directory; a login node refusing
// the hub's certificate says which sshd setting to check.
func TestCheckConfigConnectDirectory(t *testing.T) {
	c := batchtest.LoadCluster(t)
	site := siteFor(t, c, freePort(t))
	good, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	directory := fmt.Sprintf("directory %s as %s: ", c.Get(t, "LDAP_URL"), c.Get(t, "LDAP_BIND_DN"))
	if code, out := run(t, "check-config", "-connect", "-f", site); code != 0 || !strings.Contains(out, directory+"ok") {
		t.Fatalf("check-config -connect of a good site: exit %d, want 0 and %q ok\n%s", code, directory, out)
	}

	wrongPassword := filepath.Join(t.TempDir(), "bind_password")
	if err := os.WriteFile(wrongPassword, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	closed := fmt.Sprintf("ldap://127.0.0.1:%d", freePort(t))
	otherCA := filepath.Join(t.TempDir(), "other_ca")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", otherCA).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	for _, tc := range []struct{ name, from, to, want string }{
		{"CA sshd does not trust", c.Get(t, "SSH_USER_CA"), otherCA,
			"(the login node refused the certificate signed with user_ca_key " + otherCA + ": is its public key in sshd's TrustedUserCAKeys"},
		{"directory down", c.Get(t, "LDAP_URL"), closed,
			fmt.Sprintf("directory %s as %s: FAILED: ", closed, c.Get(t, "LDAP_BIND_DN"))},
		{"wrong service password", c.Get(t, "LDAP_BIND_PASSWORD_FILE"), wrongPassword,
			"check ldap.bind_dn and ldap.bind_password_file"},
		{"admin group typo", "cn=hpc-admins,", "cn=hpc-admin,",
			"FAILED: check admin_groups cn=hpc-admin,ou=groups,dc=example,dc=org: no such entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(good), tc.from) {
				t.Fatalf("the site has no %q", tc.from)
			}
			os.WriteFile(site, []byte(strings.Replace(string(good), tc.from, tc.to, 1)), 0o600)
			code, out := run(t, "check-config", "-connect", "-f", site)
			if code != 1 || !strings.Contains(out, tc.want) || !strings.Contains(out, "1 connection check(s) failed") {
				t.Errorf("exit %d, want 1 with %q and one failed check:\n%s", code, tc.want, out)
			}
		})
	}
}

// TestServeWarnsDirectoryDown: the hub serves with a directory that does
// not answer (it may come back), but says so in its log at start rather
// than at the first failed login.
func TestServeWarnsDirectoryDown(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	site := siteFor(t, c, port)
	b, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	closed := fmt.Sprintf("ldap://127.0.0.1:%d", freePort(t))
	os.WriteFile(site, []byte(strings.Replace(string(b), c.Get(t, "LDAP_URL"), closed, 1)), 0o600)
	logFile, err := os.Create(filepath.Join(t.TempDir(), "hub.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(binary, "serve", "-f", site)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	want := regexp.MustCompile(`level=WARN msg="directory check at start failed; hpcgate check-config -connect repeats it" url=` +
		regexp.QuoteMeta(closed) + ` err=.*connection refused`)
	var log []byte
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if log, _ = os.ReadFile(logFile.Name()); want.Match(log) {
			return
		}
	}
	t.Errorf("no warning about the directory in the hub's log:\n%s", log)
}

// TestCheckConfigConnectDatabase: -connect also connects to a PostgreSQL
// database_url (without migrating anything), so a wrong host or database
// name is found before the hub is started.
func TestCheckConfigConnectDatabase(t *testing.T) {
	c := batchtest.LoadCluster(t)
	site := siteFor(t, c, freePort(t))
	good, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	pg := c.Get(t, "POSTGRES_URL")
	nosuch := strings.Replace(pg, "/hpcgate_test?", "/hpcgate_nosuch?", 1)
	for _, tc := range []struct {
		name, url string
		code      int
		want      string
	}{
		{"reachable", pg, 0, "database " + pg + ": ok"},
		{"no such database", nosuch, 1, `FAILED: connect to database ` + nosuch + `: pq: database "hpcgate_nosuch" does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := strings.Replace(string(good), "  log_level: debug\n", "  log_level: debug\n  database_url: "+tc.url+"\n", 1)
			os.WriteFile(site, []byte(s), 0o600)
			code, out := run(t, "check-config", "-connect", "-f", site)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", code, tc.code, tc.want, out)
			}
		})
	}
}

// TestSiteFileMistakes: "hpcgate serve site.yaml" (no -f) is refused
// naming the word, instead of reading the default site file and blaming
// it; a missing site file says how to name or make one.
func TestSiteFileMistakes(t *testing.T) {
	for _, cmd := range []string{"serve", "check-config", "upgrade-db", "generate-config", "version"} {
		code, out := run(t, cmd, "site.yaml")
		want := fmt.Sprintf("hpcgate %s: unexpected argument %q", cmd, "site.yaml")
		if cmd != "generate-config" && cmd != "version" {
			want += ": give the site file with -f site.yaml"
		}
		if code != 2 || !strings.Contains(out, want) {
			t.Errorf("hpcgate %s site.yaml: exit %d, want 2 and %q:\n%s", cmd, code, want, out)
		}
	}
	missing := filepath.Join(t.TempDir(), "site.yaml")
	for _, cmd := range []string{"serve", "check-config"} {
		code, out := run(t, cmd, "-f", missing)
		if code != 1 || !strings.Contains(out, "no such file or directory (name the site file with -f or $HPCGATE_CONFIG") {
			t.Errorf("hpcgate %s -f %s: exit %d, want 1 saying how to name the site file:\n%s", cmd, missing, code, out)
		}
	}
}

// TestCheckConfigConnectHubAPI: for a hub_api: direct cluster, -connect
// has the login node connect to the hub API's address as the notebooks
// will. Before the hub runs, the check answers on hub.listen itself, so an
// address that leads elsewhere fails as well as one that leads nowhere.
func TestCheckConfigConnectHubAPI(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	site := siteFor(t, c, port)
	good, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "some other service\n")
	}))
	defer other.Close()
	closed := fmt.Sprintf("http://127.0.0.1:%d/hub/api", freePort(t))
	for _, tc := range []struct {
		name, apiURL string
		code         int
		want         string
	}{
		{"the hub's own address", "", 0, fmt.Sprintf("cluster local: hub API http://127.0.0.1:%d/hub/api from the login node: ok", port)},
		{"nothing listens", closed, 1, "from the login node: FAILED: the login node cannot connect to 127.0.0.1 port"},
		{"another service answers", other.URL + "/hub/api", 1, "but what answered there is not this hub"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := string(good)
			if tc.apiURL != "" {
				s = strings.Replace(s, "  log_level: debug\n", "  log_level: debug\n  hub_api_url: "+tc.apiURL+"\n", 1)
			}
			os.WriteFile(site, []byte(s), 0o600)
			code, out := run(t, "check-config", "-connect", "-f", site)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", code, tc.code, tc.want, out)
			}
		})
	}
}
