package sshexec

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"hpcgate/batch"
)

// TestReconnectAfterLoginNodeRestart kills sshd and every connection
// process, as a login node reboot does, with a command running; then issues
// a command while it is down and restarts it (same port, same host key).
func TestReconnectAfterLoginNodeRestart(t *testing.T) {
	n := newLoginNode(t)
	cfg := n.config(t, ModeCertificate)
	cfg.ReconnectMin, cfg.ReconnectMax = 50*time.Millisecond, 500*time.Millisecond
	p := newPool(t, cfg)
	ctx := context.Background()
	if _, err := p.Run(ctx, batch.Command{User: "alice", Argv: []string{"true"}}); err != nil {
		t.Fatal(err)
	}

	// A command with a side effect, then a long wait: it is running when
	// the login node goes down.
	marker := filepath.Join(n.Dir, "marker")
	if err := os.WriteFile(marker, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(marker, 0o666)
	running := make(chan error, 1)
	go func() {
		_, err := p.Run(ctx, batch.Command{User: "alice", Argv: []string{"sh", "-c", "echo ran >> " + marker + "; sleep 60"}})
		running <- err
	}()
	waitFor(t, "the command's side effect", func() bool { b, _ := os.ReadFile(marker); return len(b) > 0 })
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-running:
		var ce *batch.CommandError
		if !errors.Is(err, ErrConnection) || errors.As(err, &ce) {
			t.Errorf("command whose connection died: err = %v, want ErrConnection and no CommandError", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the command did not fail when its connection died")
	}

	// Issued while the login node is down: it waits for the reconnect.
	waiting := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		out, err := p.Run(ctx, batch.Command{User: "alice", Argv: []string{"id", "-un"}})
		if err == nil && string(out) != "alice\n" {
			err = errors.New("wrong output " + string(out))
		}
		waiting <- err
	}()
	waitFor(t, "a failed reconnect attempt", func() bool { return p.Stats().Failures >= 2 })
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; err != nil {
		t.Fatalf("command issued while reconnecting: %v", err)
	}

	if b, _ := os.ReadFile(marker); string(b) != "ran\n" {
		t.Errorf("the interrupted command ran %d times, want once (never retried)", strings.Count(string(b), "ran"))
	}
	st := p.Stats()
	if st.Reconnects != 1 || st.Handshakes != 2 || st.OpenConns != 1 {
		t.Errorf("stats %+v: want 1 reconnect, 2 handshakes, 1 open connection", st)
	}
}

// TestRetryOnceWhenDeadBeforeSession breaks the connection after Run picked
// it and before the session opens: the command has not run, so Run retries
// it once on the new connection.
func TestRetryOnceWhenDeadBeforeSession(t *testing.T) {
	n := newLoginNode(t)
	p := newPool(t, n.config(t, ModeCertificate))
	var calls atomic.Int32
	p.hooks.beforeSession = func(cl *client) {
		if calls.Add(1) == 1 {
			cl.Client.Conn.Close() // the TCP connection, behind the pool's back
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := p.Run(ctx, batch.Command{User: "alice", Argv: []string{"id", "-un"}})
	if err != nil || string(out) != "alice\n" {
		t.Fatalf("Run = %q, %v; want alice after one retry", out, err)
	}
	if c := calls.Load(); c != 2 {
		t.Errorf("%d attempts, want 2", c)
	}
	if st := p.Stats(); st.Sessions != 1 || st.Handshakes != 2 || st.Reconnects != 1 {
		t.Errorf("stats %+v: want 1 session, 2 handshakes, 1 reconnect", st)
	}

	// A second failure is not retried again.
	calls.Store(0)
	p.hooks.beforeSession = func(cl *client) {
		calls.Add(1)
		cl.Client.Conn.Close()
	}
	_, err = p.Run(ctx, batch.Command{User: "alice", Argv: []string{"id", "-un"}})
	if !errors.Is(err, ErrConnection) || calls.Load() != 2 {
		t.Errorf("connection dead at both attempts: err = %v after %d attempts, want ErrConnection after 2", err, calls.Load())
	}
}

// TestKeepAliveDetectsSilentConnection freezes a TCP proxy between the pool
// and sshd: nothing is closed, nothing gets through. Only the keepalive can
// tell, and the pool must move to a new connection.
func TestKeepAliveDetectsSilentConnection(t *testing.T) {
	n := newLoginNode(t)
	px := newFreezer(t, n.Addr)
	cfg := n.config(t, ModeCertificate)
	cfg.Addr = px.addr
	cfg.HostKeyCallback = knownHostsFor(t, px.addr, n)
	cfg.KeepAlive = 200 * time.Millisecond
	p := newPool(t, cfg)
	run := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := p.Run(ctx, batch.Command{User: "alice", Argv: []string{"id", "-un"}})
		if err == nil && string(out) != "alice\n" {
			err = errors.New("wrong output " + string(out))
		}
		return err
	}
	if err := run(); err != nil {
		t.Fatal(err)
	}
	px.freeze()
	if err := run(); err != nil {
		t.Fatalf("command after the connection went silent: %v", err)
	}
	if st := p.Stats(); st.Reconnects != 1 || st.Handshakes != 2 {
		t.Errorf("stats %+v: want 1 reconnect and 2 handshakes", st)
	}
}

// freezer is a TCP proxy whose existing connections can be frozen: bytes
// stop flowing while both sockets stay open. New connections flow.
type freezer struct {
	addr   string
	mu     sync.Mutex
	frozen chan struct{} // closed on freeze; replaced for new connections
}

func newFreezer(t *testing.T, target string) *freezer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{addr: l.Addr().String(), frozen: make(chan struct{})}
	var conns []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			a, err := l.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", target)
			if err != nil {
				a.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, a, b)
			mu.Unlock()
			f.mu.Lock()
			frozen := f.frozen
			f.mu.Unlock()
			go f.pipe(a, b, frozen)
			go f.pipe(b, a, frozen)
		}
	}()
	return f
}

func (f *freezer) pipe(dst, src net.Conn, frozen chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-frozen:
			<-make(chan struct{}) // hold the bytes and the socket until cleanup closes it
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err == io.EOF {
				dst.(*net.TCPConn).CloseWrite()
			}
			return
		}
	}
}

func (f *freezer) freeze() {
	f.mu.Lock()
	close(f.frozen)
	f.frozen = make(chan struct{})
	f.mu.Unlock()
}

// knownHostsFor is a host key callback trusting n's host key at addr.
func knownHostsFor(t *testing.T, addr string, n *loginNode) ssh.HostKeyCallback {
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(knownHostsLine(addr, n.HostKey)), 0o644); err != nil {
		t.Fatal(err)
	}
	hk, err := LoadKnownHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	return hk
}

func TestIdleUserConnectionCloses(t *testing.T) {
	n := newLoginNode(t)
	cfg := n.config(t, ModeCertificate)
	cfg.IdleTimeout = 300 * time.Millisecond
	p := newPool(t, cfg)
	ctx := context.Background()
	for _, user := range []string{"alice", ""} {
		if _, err := p.Run(ctx, batch.Command{User: user, Argv: []string{"true"}}); err != nil {
			t.Fatal(err)
		}
	}
	if st := p.Stats(); st.OpenConns != 2 {
		t.Fatalf("%d connections open, want alice's and the service's", st.OpenConns)
	}
	waitFor(t, "alice's idle connection to close", func() bool { return p.Stats().OpenConns == 1 })
	time.Sleep(3 * cfg.IdleTimeout)
	if st := p.Stats(); st.OpenConns != 1 {
		t.Errorf("%d connections open, want the service connection kept", st.OpenConns)
	}
	for _, user := range []string{"", "alice"} {
		if _, err := p.Run(ctx, batch.Command{User: user, Argv: []string{"true"}}); err != nil {
			t.Fatal(err)
		}
	}
	if h := p.Stats().Handshakes; h != 3 {
		t.Errorf("%d handshakes, want 3 (a new one for alice only)", h)
	}
}

// TestCloseEndsEverything checks Close fails running and later commands.
func TestCloseEndsEverything(t *testing.T) {
	n := newLoginNode(t)
	p := newPool(t, n.config(t, ModeCertificate))
	opened := make(chan struct{}, 1)
	p.hooks.opened = func(*client, time.Time) { opened <- struct{}{} }
	running := make(chan error, 1)
	go func() {
		_, err := p.Run(context.Background(), batch.Command{User: "alice", Argv: []string{"sleep", "60"}})
		running <- err
	}()
	<-opened
	p.Close()
	if err := <-running; !errors.Is(err, ErrConnection) {
		t.Errorf("command running at Close: %v, want ErrConnection", err)
	}
	if _, err := p.Run(context.Background(), batch.Command{User: "alice", Argv: []string{"true"}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v, want ErrClosed", err)
	}
	if st := p.Stats(); st.OpenConns != 0 {
		t.Errorf("%d connections open after Close", st.OpenConns)
	}
}
