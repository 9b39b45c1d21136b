package sshexec

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"hpcgate/batch"
)

// The benchmarks compare the pool with what a hub without one does: run the
// OpenSSH client for every command, and `ssh -L` for a tunnel. Run them with
// `go test -run '^$' -bench . ./batch/sshexec` (as root, like the tests).

// BenchmarkRunPooled is one command over the warm pooled connection.
func BenchmarkRunPooled(b *testing.B) {
	n := newLoginNode(b)
	p := newPool(b, n.config(b, ModeCertificate))
	cmd := batch.Command{User: "alice", Argv: []string{"true"}}
	if _, err := p.Run(context.Background(), cmd); err != nil {
		b.Fatal(err)
	}
	before := p.Stats().Handshakes
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Run(context.Background(), cmd); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(p.Stats().Handshakes-before)/float64(b.N), "handshakes/op")
}

// BenchmarkRunFreshSSH is one command with the OpenSSH client, as alice with
// a certificate from the same CA: a TCP connection and a handshake each time.
func BenchmarkRunFreshSSH(b *testing.B) {
	n := newLoginNode(b)
	key := n.userKey(b, "alice")
	before := strings.Count(n.Log(), "Accepted publickey for alice")
	b.ResetTimer()
	for b.Loop() {
		out, err := exec.Command("ssh", n.sshArgs(key, "alice@127.0.0.1", "true")...).CombinedOutput()
		if err != nil {
			b.Fatalf("ssh: %v: %s", err, out)
		}
	}
	b.StopTimer()
	logins := strings.Count(n.Log(), "Accepted publickey for alice") - before
	b.ReportMetric(float64(logins)/float64(b.N), "handshakes/op")
}

// BenchmarkTunnelThroughput sends data through a tunnel to a local TCP
// sink: through DialContext, and through `ssh -N -L` on the same machine.
func BenchmarkTunnelThroughput(b *testing.B) {
	n := newLoginNode(b)
	sink := newSink(b)
	b.Run("pooled", func(b *testing.B) {
		p := newPool(b, n.config(b, ModeCertificate))
		conn, err := p.DialContext(context.Background(), "tcp", sink)
		if err != nil {
			b.Fatal(err)
		}
		pump(b, conn)
	})
	b.Run("ssh-L", func(b *testing.B) {
		key := n.userKey(b, "alice")
		port, err := freePort()
		if err != nil {
			b.Fatal(err)
		}
		local := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cmd := exec.Command("ssh", n.sshArgs(key, "-N", "-L", local+":"+sink, "alice@127.0.0.1")...)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}()
		var conn net.Conn
		deadline := time.Now().Add(10 * time.Second)
		for conn == nil {
			if conn, err = net.Dial("tcp", local); err != nil && time.Now().After(deadline) {
				b.Fatalf("ssh -L did not listen: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		pump(b, conn)
	})
}

const chunk = 1 << 20

// pump writes b.N chunks to conn, then waits for the sink to confirm it
// received every byte, so the time covers delivery, not buffering.
func pump(b *testing.B, conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, chunk)
	b.SetBytes(chunk)
	b.ResetTimer()
	for b.Loop() {
		if _, err := conn.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	b.StopTimer()
	if err != nil || strings.TrimSpace(line) != strconv.Itoa(b.N*chunk) {
		b.Fatalf("sink received %q bytes (%v), want %d", line, err, b.N*chunk)
	}
}

// newSink listens on loopback, counts what each connection sends until EOF
// and answers with the count.
func newSink(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				n, _ := io.Copy(io.Discard, c)
				fmt.Fprintf(c, "%d\n", n)
			}()
		}
	}()
	return l.Addr().String()
}

// userKey writes a key for login and a one-hour certificate from the login
// node's CA beside it (key-cert.pub), where the OpenSSH client finds it.
func (n *loginNode) userKey(tb testing.TB, login string) string {
	tb.Helper()
	c, err := signUserCert(n.ca, login, 1, time.Now(), time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), login)
	key, err := writeKey(path, login)
	if err != nil {
		tb.Fatal(err)
	}
	// Re-sign for the key just written: signUserCert made its own key.
	cert := *c.cert
	cert.Key = key.PublicKey()
	if err := cert.SignCert(rand.Reader, n.ca); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path+"-cert.pub", ssh.MarshalAuthorizedKey(&cert), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// sshArgs are the OpenSSH client's arguments for n with key, verifying the
// host key and reading no user config.
func (n *loginNode) sshArgs(key string, rest ...string) []string {
	return append([]string{
		"-F", "/dev/null", "-p", strconv.Itoa(n.Port), "-i", key,
		"-o", "UserKnownHostsFile=" + n.KnownHosts, "-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ExitOnForwardFailure=yes",
	}, rest...)
}
