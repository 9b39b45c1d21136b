package sshexec

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// get fetches url with dial as the transport's DialContext.
func get(t *testing.T, dial func(ctx context.Context, network, addr string) (net.Conn, error), url string) (string, error) {
	t.Helper()
	tr := &http.Transport{DialContext: dial}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestDialTCP(t *testing.T) {
	n := newLoginNode(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.URL.Path)
	}))
	defer srv.Close()
	for _, mode := range []Mode{ModeCertificate, ModeSudo} {
		p := newPool(t, n.config(t, mode))
		dials := map[string]func(ctx context.Context, network, addr string) (net.Conn, error){
			"service": p.DialContext,
			"alice": func(ctx context.Context, network, addr string) (net.Conn, error) {
				return p.DialAs(ctx, "alice", network, addr)
			},
		}
		for who, dial := range dials {
			t.Run(string(mode)+" as "+who, func(t *testing.T) {
				for i := range 3 {
					body, err := get(t, dial, srv.URL+"/job/"+strconv.Itoa(i))
					if want := "hello from /job/" + strconv.Itoa(i); err != nil || body != want {
						t.Fatalf("GET through the tunnel: %q, %v; want %q", body, err, want)
					}
				}
			})
		}
		st := p.Stats()
		wantConns := uint64(2) // the service's and alice's
		if mode == ModeSudo {
			wantConns = 1
		}
		if st.Tunnels != 6 || st.Handshakes != wantConns {
			t.Errorf("%s: stats %+v, want 6 tunnels over %d connections", mode, st, wantConns)
		}
	}
}

// TestDialAsUnixSocket reaches an HTTP server on a 0600 unix socket that
// belongs to alice, as a job's server in her home would listen.
func TestDialAsUnixSocket(t *testing.T) {
	n := newLoginNode(t)
	sock := filepath.Join(n.Dir, "jupyter.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "notebook")
	})}
	go srv.Serve(l)
	defer srv.Close()
	alice, _ := user.Lookup("alice")
	uid, _ := strconv.Atoi(alice.Uid)
	if err := os.Chown(sock, uid, -1); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		t.Fatal(err)
	}

	p := newPool(t, n.config(t, ModeCertificate))
	asAlice := func(ctx context.Context, _, _ string) (net.Conn, error) { return p.DialAs(ctx, "alice", "unix", sock) }
	if body, err := get(t, asAlice, "http://alice-notebook/api"); err != nil || body != "notebook" {
		t.Errorf("GET through alice's tunnel: %q, %v", body, err)
	}
	_, err = p.DialContext(context.Background(), "unix", sock)
	var refused *ssh.OpenChannelError
	if !errors.As(err, &refused) || errors.Is(err, ErrConnection) {
		t.Errorf("the service account opened alice's 0600 socket: err = %v, want a refused channel", err)
	}

	sudo := newPool(t, n.config(t, ModeSudo))
	if _, err := sudo.DialAs(context.Background(), "alice", "unix", sock); err == nil || !strings.Contains(err.Error(), "sudo mode") {
		t.Errorf("sudo mode DialAs unix: %v, want a refusal naming sudo mode", err)
	}
}

func TestDialRefusedDestination(t *testing.T) {
	n := newLoginNode(t)
	p := newPool(t, n.config(t, ModeCertificate))
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.DialContext(context.Background(), "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	var refused *ssh.OpenChannelError
	if !errors.As(err, &refused) || errors.Is(err, ErrConnection) {
		t.Errorf("tunnel to a closed port: err = %v, want a refused channel without ErrConnection", err)
	}
	if _, err := p.DialContext(context.Background(), "udp", "127.0.0.1:53"); err == nil {
		t.Error("a udp tunnel was not refused")
	}
	if st := p.Stats(); st.Handshakes != 1 || st.OpenConns != 1 || st.Failures != 0 {
		t.Errorf("stats %+v: the connection should be untouched by a refused tunnel", st)
	}
}

// TestTunnelKeepsConnectionOpen checks that an open tunnel keeps alice's
// connection from closing as idle, and that it closes once the tunnel does.
func TestTunnelKeepsConnectionOpen(t *testing.T) {
	n := newLoginNode(t)
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	cfg := n.config(t, ModeCertificate)
	cfg.IdleTimeout = 200 * time.Millisecond
	p := newPool(t, cfg)
	tun, err := p.DialAs(context.Background(), "alice", "tcp", echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(tun)
	for i := range 3 {
		time.Sleep(2 * cfg.IdleTimeout)
		fmt.Fprintf(tun, "ping %d\n", i)
		if line, err := r.ReadString('\n'); err != nil || line != fmt.Sprintf("ping %d\n", i) {
			t.Fatalf("echo through a tunnel open for %s: %q, %v", time.Duration(i+1)*2*cfg.IdleTimeout, line, err)
		}
	}
	// Half-close: the echo server sees EOF and closes its side.
	if err := tun.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
		t.Errorf("after CloseWrite: read %q, %v; want EOF", rest, err)
	}
	tun.Close()
	waitFor(t, "the idle connection to close after the tunnel", func() bool { return p.Stats().OpenConns == 0 })
}
