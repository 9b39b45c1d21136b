package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"hpcgate/batch/batchtest"
	"hpcgate/gateway/ldapauth/ldaptest"
)

// account is one temporary person of a test class: an LDAP entry and a
// Unix account with the same uid.
type account struct {
	name, password string
	uid            int
}

// class is a workshop's people and scheduler objects on the loopback
// cluster, all temporary: attendees and an instructor in slapd and
// /etc/passwd, their two groups, and a Slurm reservation named after the
// class.
type class struct {
	attendees       []account
	instructor      account
	attendeeGroup   string // DN
	instructorGroup string // DN
	name            string // of the reservation
}

// newClass makes n attendees and an instructor. The order matters for the
// cleanup, which runs backwards: jobs are cancelled and the reservation
// deleted before the Unix accounts, and those before the
// directory entries.
func newClass(t *testing.T, c batchtest.Cluster, n int) *class {
	t.Helper()
	d := ldaptest.Load(t)
	cl := &class{name: "ws-e2e-" + randHex(3)}
	uids := freeUIDs(t, n+1)
	for i := 0; i <= n; i++ {
		name, pw := d.NewUser(t, uids[i])
		a := account{name: name, password: pw, uid: uids[i]}
		if i == n {
			cl.instructor = a
		} else {
			cl.attendees = append(cl.attendees, a)
		}
	}
	cl.attendeeGroup = d.NewGroup(t, cl.attendeeNames()...)
	cl.instructorGroup = d.NewGroup(t, cl.instructor.name)
	for _, a := range cl.everyone() {
		addUnixUser(t, a)
	}
	cl.reserve(t, c)
	return cl
}

func (cl *class) attendeeNames() []string {
	var out []string
	for _, a := range cl.attendees {
		out = append(out, a.name)
	}
	return out
}

func (cl *class) everyone() []account {
	return append(append([]account(nil), cl.attendees...), cl.instructor)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// freeUIDs picks n consecutive uids from a random base that /etc/passwd
// does not use (the directory's test entries use 2001-2004 and the
// security tests their own; a random base far above keeps us apart).
func freeUIDs(t *testing.T, n int) []int {
	t.Helper()
	for try := 0; try < 20; try++ {
		b := make([]byte, 2)
		rand.Read(b)
		base := 40000 + (int(b[0])<<8|int(b[1]))%20000
		var out []int
		for uid := base; uid < base+n; uid++ {
			if exec.Command("getent", "passwd", strconv.Itoa(uid)).Run() == nil {
				break
			}
			out = append(out, uid)
		}
		if len(out) == n {
			return out
		}
	}
	t.Fatalf("no %d free consecutive uids found", n)
	return nil
}

// addUnixUser makes the account as testdata/cluster/users.sh makes a
// cluster user: a home, the hpcusers group, a password field sshd accepts
// (certificates only). sshd_config has no AllowUsers/AllowGroups.
func addUnixUser(t *testing.T, a account) {
	t.Helper()
	if out, err := exec.Command("useradd", "-m", "-u", strconv.Itoa(a.uid), "-g", "hpcusers", "-s", "/bin/bash", a.name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v %s", a.name, err, out)
	}
	t.Cleanup(func() {
		// Processes of the user's last job or ssh session may linger a
		// moment after the job ended.
		var out []byte
		var err error
		for i := 0; i < 20; i++ {
			if out, err = exec.Command("userdel", "-r", a.name).CombinedOutput(); err == nil {
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Errorf("userdel -r %s: %v %s", a.name, err, out)
	})
	if out, err := exec.Command("usermod", "-p", "*", a.name).CombinedOutput(); err != nil {
		t.Fatalf("usermod %s: %v %s", a.name, err, out)
	}
}

// reserve makes a reservation of one core per attendee on the node, from
// now for half an hour. The servers cannot share cores: Slurm keeps jobs
// of an oversubscribed partition off a node where another partition's
// jobs run, and the node is shared with the other tests. Cleanup cancels
// the class's jobs first: Slurm does not delete a reservation in use.
func (cl *class) reserve(t *testing.T, c batchtest.Cluster) {
	t.Helper()
	slurm := func(args ...string) ([]byte, error) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(cmd.Environ(), "SLURM_CONF="+c.Get(t, "SLURM_CONF"))
		return cmd.CombinedOutput()
	}
	users := strings.Join(append(cl.attendeeNames(), cl.instructor.name), ",")
	// Without IGNORE_JOBS Slurm reserves idle cores only (with it, a
	// core under another test's job is reserved and a server waits for
	// it); while too few are idle, try again.
	var out []byte
	var err error
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Second) {
		out, err = slurm("scontrol", "create", "reservation", "ReservationName="+cl.name, "Users="+users,
			"Nodes=localhost", fmt.Sprintf("CoreCnt=%d", len(cl.attendees)), "StartTime=now", "Duration=30")
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("create reservation %s of %d cores: %v %s", cl.name, len(cl.attendees), err, out)
	}
	t.Cleanup(func() {
		for _, u := range strings.Split(users, ",") {
			slurm("scancel", "-u", u)
		}
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			out, _ := slurm("squeue", "-h", "-R", cl.name, "-o", "%i")
			if strings.TrimSpace(string(out)) == "" {
				break
			}
			time.Sleep(time.Second)
		}
		if out, err := slurm("scontrol", "delete", "ReservationName="+cl.name); err != nil {
			t.Errorf("delete reservation %s: %v %s", cl.name, err, out)
		}
	})
}

// nodeCPUs is how many CPUs Slurm gives the loopback node.
func nodeCPUs(t *testing.T, c batchtest.Cluster) int {
	t.Helper()
	cmd := exec.Command("sinfo", "-h", "-n", "localhost", "-o", "%c")
	cmd.Env = append(cmd.Environ(), "SLURM_CONF="+c.Get(t, "SLURM_CONF"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sinfo: %v", err)
	}
	n, err := strconv.Atoi(strings.Fields(string(out) + " 0")[0])
	if err != nil {
		t.Fatalf("sinfo: CPUs %q: %v", out, err)
	}
	return n
}

// squeueClass lists the class's jobs, as "id user reason-or-node
// reservation" lines.
func (cl *class) squeue(t *testing.T, c batchtest.Cluster) []string {
	t.Helper()
	cmd := exec.Command("squeue", "-h", "-u", strings.Join(cl.attendeeNames(), ","), "-o", "%i %u %R %v")
	cmd.Env = append(cmd.Environ(), "SLURM_CONF="+c.Get(t, "SLURM_CONF"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("squeue: %v", err)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		return strings.Split(s, "\n")
	}
	return nil
}

// classApp is the class's server: a python3 web server that answers any
// request with who runs it: ten start in a second or two on the machine's
// two real cores (jupyterhub-singleuser takes ~100 MB and a few
// CPU-seconds each).
const classApp = `import http.server, json, os, pwd, sys
body = json.dumps({"workshop_app": pwd.getpwuid(os.getuid()).pw_name}).encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_POST = do_GET
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
`

// workshopSite is the loopback site with the class's workshop: one session
// from start to end (whole minutes: the site file's resolution), started
// lead before, in the class's reservation, the timeline ticking every 2 s.
func workshopSite(t *testing.T, c batchtest.Cluster, port int, cl *class, start, end time.Time, lead time.Duration) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "hpcgate-workshop-app-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	app := filepath.Join(dir, "app.py")
	if err := os.WriteFile(app, []byte(classApp), 0o644); err != nil {
		t.Fatal(err)
	}
	site := writeSite(t, c, port, "")
	data, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), `allowed_groups: ["cn=hpc-users,ou=groups,dc=example,dc=org"]`,
		fmt.Sprintf(`allowed_groups: [%q, %q]`, cl.attendeeGroup, cl.instructorGroup), 1)
	text = strings.Replace(text, `command: [jupyterhub-singleuser, --ip=127.0.0.1, "--port={port}"]`,
		fmt.Sprintf(`command: [/usr/bin/python3, %q, "{port}"]`, app), 1)
	text = strings.Replace(text, "    profiles:\n", `    profiles:
      - name: class
        title: Workshop server
        partition: {value: debug}
        cores: {value: 1}
        memory: {value: 256M}
        walltime: {min: 1m, max: 1h, default: 30m}
`, 1)
	const layout = "2006-01-02 15:04"
	text += fmt.Sprintf(`cron:
  workshops: "@every 2s"
workshops:
  - name: %[1]s
    title: Python on the loopback cluster
    attendee_group: %[2]q
    instructor_group: %[3]q
    cluster: local
    profiles: [class]
    reservation: %[1]s
    time_zone: UTC
    sessions:
      - {start: %[4]q, end: %[5]q}
    lead_time: %[6]s
    pace: 300ms
    limits:
      cores_per_attendee: 1
      max_attendees: 20
`, cl.name, cl.attendeeGroup, cl.instructorGroup, start.UTC().Format(layout), end.UTC().Format(layout), lead)
	if err := os.WriteFile(site, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return site
}
