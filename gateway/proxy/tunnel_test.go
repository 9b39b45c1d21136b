package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"hpcgate/batch/batchtest"
)

// sshTunnel connects to the loopback cluster's login node as the service
// account, as cmd does for the proxy, and returns its DialContext with a
// count of the channels opened.
func sshTunnel(t testing.TB) (DialFunc, *atomic.Int64) {
	t.Helper()
	cl := batchtest.LoadCluster(t)
	keyPEM, err := os.ReadFile(cl.Get(t, "SSH_SERVICE_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatalf("parse service key: %v", err)
	}
	hostKeys, err := knownhosts.New(cl.Get(t, "SSH_KNOWN_HOSTS"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := ssh.Dial("tcp", cl.Get(t, "SSH_ADDR"), &ssh.ClientConfig{
		User:            cl.Get(t, "SSH_SERVICE_USER"),
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys,
		Timeout:         hang,
	})
	if err != nil {
		t.Fatalf("ssh to the login node: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	var n atomic.Int64
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		return client.DialContext(ctx, network, addr)
	}, &n
}

// Through the cluster's real sshd: plain requests share one forwarded
// channel, and a WebSocket works end to end.
func TestThroughSSHTunnel(t *testing.T) {
	dial, channels := sshTunnel(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/user/alice/api/status", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Host+" "+r.RequestURI)
	})
	mux.Handle("/user/alice/api/kernels/", echoServer(t).Config.Handler)
	up := upstream(t, mux)
	p, fr := front(t, Config{})
	host, port := hostPort(t, up)
	if err := p.Routes().Set("alice", "", Target{Host: host, Port: port, Dial: dial}); err != nil {
		t.Fatal(err)
	}

	want := fr.Listener.Addr().String() + " /user/alice/api/status?a=%2F%C3%A9"
	for i := range 10 {
		status, body := get(t, fr.Client(), fr.URL+"/user/alice/api/status?a=%2F%C3%A9", nil)
		if status != http.StatusOK || body != want {
			t.Fatalf("request %d: %d %q; want 200 %q", i, status, body, want)
		}
	}
	if g := channels.Load(); g != 1 {
		t.Errorf("10 sequential requests opened %d SSH channels; want 1", g)
	}

	c, _, err := dialWS(t, fr, "/user/alice/api/kernels/k/channels", "http://"+fr.Listener.Addr().String())
	if err != nil {
		t.Fatalf("WebSocket through the tunnel: %v", err)
	}
	echo(t, c, websocket.MessageText, []byte(`{"msg_type": "kernel_info_request"}`))
	echo(t, c, websocket.MessageBinary, make([]byte, 300_000))

	p.Routes().Delete("alice", "")
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if _, _, err := c.Read(ctx); err == nil || ctx.Err() != nil {
		t.Errorf("the WebSocket outlived its route: %v", err)
	}
}
