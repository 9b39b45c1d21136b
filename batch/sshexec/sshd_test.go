package sshexec

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"hpcgate/batch/batchtest"
)

const (
	sshdPath = "/usr/sbin/sshd"
	// sudoersFile is what testdata/cluster/users.sh installs for sudo mode.
	sudoersFile = "/etc/sudoers.d/hpcgate-testcluster"
	serviceUser = "hpcgate"
)

// reservedPorts belong to the shared loopback cluster (see the preamble).
var reservedPorts = map[int]bool{2222: true, 3389: true, 3636: true, 5433: true, 6817: true, 6818: true, 8000: true}

// loginNodeProblem says why this machine cannot run a test login node, or "".
func loginNodeProblem() string {
	if os.Geteuid() != 0 {
		return "the test login node must run as root (sshd switches to the test users)"
	}
	if _, err := os.Stat(sshdPath); err != nil {
		return sshdPath + " is missing (apt-get install openssh-server)"
	}
	for _, u := range []string{"alice", "bob", serviceUser} {
		if _, err := user.Lookup(u); err != nil {
			return fmt.Sprintf("user %s is missing: run testdata/cluster/users.sh /tmp/hpcgate-cluster/pbs/bin", u)
		}
	}
	if _, err := os.Stat(sudoersFile); err != nil {
		return sudoersFile + " is missing: run testdata/cluster/users.sh /tmp/hpcgate-cluster/pbs/bin"
	}
	return ""
}

// requireLoginNode skips the test where a login node cannot run, unless the
// loopback cluster is configured (make test), where that is a failure.
func requireLoginNode(t testing.TB) {
	t.Helper()
	p := loginNodeProblem()
	switch {
	case p == "":
	case os.Getenv(batchtest.EnvVar) != "":
		t.Fatal(p)
	default:
		t.Skip(p)
	}
}

// loginNode is a real OpenSSH sshd on a free loopback port, with its own
// config, host key, user CA and service account key in Dir, started and
// owned (by PID) by the test.
type loginNode struct {
	Dir  string
	Addr string // 127.0.0.1:port
	Port int
	// ForwardPort is the one port on 127.0.0.1 the service account may
	// have sshd listen on (a reverse forward); nobody else may forward.
	ForwardPort int
	KnownHosts  string // a known_hosts file listing its host key
	UserCA      string // the user CA's private key, which sshd trusts (0600)
	ServiceKey  string // the service account's private key (0600)
	LogFile     string
	HostKey     ssh.PublicKey
	ca          ssh.Signer
	service     ssh.Signer

	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{} // closed when cmd has exited
}

// newLoginNode starts a login node that is stopped when t ends.
func newLoginNode(t testing.TB) *loginNode {
	t.Helper()
	requireLoginNode(t)
	dir := t.TempDir()
	n, err := startLoginNode(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.stop(); err != nil {
			t.Errorf("stop sshd: %v", err)
		}
		if t.Failed() {
			t.Logf("sshd log:\n%s", n.Log())
		}
	})
	return n
}

// startLoginNode writes keys and config into dir and starts sshd.
func startLoginNode(dir string) (*loginNode, error) {
	// sshd reads AuthorizedKeysFile as the user, and tests put sockets here
	// that the users open: every directory down to dir must be traversable.
	for d := dir; d != os.TempDir() && d != "/" && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	fport, err := freePort()
	if err != nil {
		return nil, err
	}
	n := &loginNode{
		ForwardPort: fport,
		Dir:         dir,
		Port:        port,
		Addr:        net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		KnownHosts:  filepath.Join(dir, "known_hosts"),
		UserCA:      filepath.Join(dir, "user_ca"),
		ServiceKey:  filepath.Join(dir, "hpcgate_key"),
		LogFile:     filepath.Join(dir, "sshd.log"),
	}
	hostKey, err := writeKey(filepath.Join(dir, "host_ed25519"), "test-login-node")
	if err != nil {
		return nil, err
	}
	n.HostKey = hostKey.PublicKey()
	// A second host key that known_hosts does not list, as on a real login
	// node whose ECDSA and RSA keys nobody recorded: the pool must ask for
	// the key type it knows (KnownHostAlgorithms).
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := writePrivateKey(filepath.Join(dir, "host_ecdsa"), ecKey, "test-login-node"); err != nil {
		return nil, err
	}
	if n.ca, err = writeKey(n.UserCA, "test-user-ca"); err != nil {
		return nil, err
	}
	if n.service, err = writeKey(n.ServiceKey, "test-hpcgate"); err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(dir, "authorized_keys"), 0o755); err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"user_ca.pub":             ssh.MarshalAuthorizedKey(n.ca.PublicKey()),
		"authorized_keys/hpcgate": ssh.MarshalAuthorizedKey(n.service.PublicKey()),
		"known_hosts":             []byte(knownHostsLine(n.Addr, n.HostKey)),
		"sshd_config":             []byte(sshdConfig(dir, port, fport)),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	if err := n.start(); err != nil {
		return nil, err
	}
	return n, nil
}

func sshdConfig(dir string, port, fport int) string {
	return fmt.Sprintf(`# Written by the sshexec tests.
ListenAddress 127.0.0.1
Port %[2]d
HostKey %[1]s/host_ed25519
HostKey %[1]s/host_ecdsa
PidFile %[1]s/sshd.pid
TrustedUserCAKeys %[1]s/user_ca.pub
AuthorizedKeysFile %[1]s/authorized_keys/%%u
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
# UsePAM: useradd'ed accounts pass the account checks; StrictModes: state under /tmp.
UsePAM yes
StrictModes no
# Users may open tunnels (-L) but not make sshd listen (-R); the hub's
# service account may, on one address (the hub API's reverse forward).
AllowTcpForwarding local
AllowStreamLocalForwarding yes
PermitOpen any
X11Forwarding no
PrintMotd no
LogLevel VERBOSE
MaxStartups 100:30:200
MaxSessions 64
Match User hpcgate
  AllowTcpForwarding yes
  GatewayPorts clientspecified
  PermitListen 127.0.0.1:%[3]d
`, dir, port, fport)
}

func knownHostsLine(addr string, key ssh.PublicKey) string {
	return knownHostsAddr(addr) + " " + string(ssh.MarshalAuthorizedKey(key))
}

// knownHostsAddr is addr as known_hosts writes it: [host]:port.
func knownHostsAddr(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	return "[" + host + "]:" + port
}

// writeKey generates an ed25519 key and writes it in OpenSSH format, 0600.
func writeKey(path, comment string) (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := writePrivateKey(path, priv, comment); err != nil {
		return nil, err
	}
	return ssh.NewSignerFromKey(priv)
}

func writePrivateKey(path string, key crypto.PrivateKey, comment string) error {
	block, err := ssh.MarshalPrivateKey(key, comment)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(block), 0o600)
}

func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !reservedPorts[port] {
			return port, nil
		}
	}
	return 0, errors.New("no free port")
}

// start runs sshd in the foreground (-D) so this process owns its PID, and
// waits until it listens.
func (n *loginNode) start() error {
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // privilege separation directory
		return err
	}
	logf, err := os.OpenFile(n.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	offset, _ := logf.Seek(0, 2)
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", filepath.Join(n.Dir, "sshd_config"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start sshd: %w", err)
	}
	exit := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exit)
	}()
	n.mu.Lock()
	n.cmd, n.exit = cmd, exit
	n.mu.Unlock()

	ready := fmt.Sprintf("Server listening on 127.0.0.1 port %d", n.Port)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(n.LogFile)
		if int64(len(b)) > offset && bytes.Contains(b[offset:], []byte(ready)) {
			return nil
		}
		select {
		case <-exit:
			return fmt.Errorf("sshd exited at start: %s", b[offset:])
		case <-time.After(20 * time.Millisecond):
		}
	}
	n.stop()
	return errors.New("sshd did not listen within 10s")
}

// stop ends sshd and every per-connection process it forked, as a login
// node going down does: the SSH connections break. Children are found by
// walking /proc from sshd's PID, so only processes this test caused are
// signalled.
func (n *loginNode) stop() error {
	n.mu.Lock()
	cmd, exit := n.cmd, n.exit
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	// The listener goes first, so nobody can reconnect while the
	// connection processes (collected before, as they outlive it) are
	// killed.
	children := descendants(cmd.Process.Pid)
	cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case <-exit:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-exit
		err = errors.New("sshd ignored SIGTERM for 5s")
	}
	for _, pid := range children {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	return err
}

func (n *loginNode) restart() error {
	if err := n.stop(); err != nil {
		return err
	}
	return n.start()
}

// Log returns everything sshd logged so far.
func (n *loginNode) Log() string {
	b, _ := os.ReadFile(n.LogFile)
	return string(b)
}

// descendants returns the PIDs of every process below pid.
func descendants(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name in parentheses may hold spaces: fields start after it.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for _, c := range children[p] {
			out = append(out, c)
			walk(c)
		}
	}
	walk(pid)
	return out
}

// config is a pool config for this login node in mode.
func (n *loginNode) config(t testing.TB, mode Mode) Config {
	t.Helper()
	hk, err := LoadKnownHosts(n.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	algos, err := KnownHostAlgorithms(n.KnownHosts, n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Addr: n.Addr, HostKeyCallback: hk, HostKeyAlgorithms: algos, Mode: mode, ServiceUser: serviceUser, Logger: testLogger(t)}
	switch mode {
	case ModeCertificate:
		cfg.CASigner = n.ca
	case ModeSudo:
		cfg.ServiceSigner = n.service
	}
	return cfg
}

// pool is New(cfg), closed when t ends (before the login node stops).
func newPool(t testing.TB, cfg Config) *Pool {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// testLogger sends the pool's log lines to t.Log while the test runs.
func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.t = nil
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	mu sync.Mutex
	t  testing.TB
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.t != nil {
		w.t.Log(strings.TrimSuffix(string(b), "\n"))
	}
	return len(b), nil
}
