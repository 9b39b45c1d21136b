package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// BenchmarkProxyHTTP compares a small request straight to the server with
// the same request through the proxy (both over loopback TCP with
// keep-alive), so the difference is the proxy's cost per request.
func BenchmarkProxyHTTP(b *testing.B) {
	up := upstream(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"version": "6.4.12"}`)
	}))
	p, fr := front(b, Config{})
	setRoute(b, p, "alice", up)

	for _, bc := range []struct {
		name string
		srv  *httptest.Server
		user string
	}{{"direct", up, "alice"}, {"proxy", fr, "alice"}, {"ssh-tunnel", fr, "tunnel"}} {
		b.Run(bc.name, func(b *testing.B) {
			if bc.user == "tunnel" {
				// Through the loopback cluster's sshd, as in production.
				dial, n := sshTunnel(b)
				defer func() { b.ReportMetric(float64(n.Load()), "channels") }()
				host, port := hostPort(b, up)
				if err := p.Routes().Set("tunnel", "", Target{Host: host, Port: port, Dial: dial}); err != nil {
					b.Fatal(err)
				}
			}
			c := bc.srv.Client()
			url := bc.srv.URL + "/user/" + bc.user + "/api/status?x=1"
			for b.Loop() {
				res, err := c.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Fatalf("status %d", res.StatusCode)
				}
			}
		})
	}
}

// BenchmarkProxyWebSocket measures one message's round trip on an open
// WebSocket, straight to the echo server and through the proxy.
func BenchmarkProxyWebSocket(b *testing.B) {
	up := echoServer(b)
	p, fr := front(b, Config{})
	setRoute(b, p, "alice", up)
	msg := []byte(strings.Repeat("k", 256)) // about a kernel status message

	for _, bc := range []struct {
		name string
		srv  *httptest.Server
		user string
	}{{"direct", up, "alice"}, {"proxy", fr, "alice"}, {"ssh-tunnel", fr, "tunnel"}} {
		b.Run(bc.name, func(b *testing.B) {
			if bc.user == "tunnel" {
				dial, _ := sshTunnel(b)
				host, port := hostPort(b, up)
				if err := p.Routes().Set("tunnel", "", Target{Host: host, Port: port, Dial: dial}); err != nil {
					b.Fatal(err)
				}
			}
			c, _, err := dialWS(b, bc.srv, "/user/"+bc.user+"/api/kernels/k/channels", "")
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			for b.Loop() {
				if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
					b.Fatal(err)
				}
				if _, _, err := c.Read(ctx); err != nil {
					b.Fatal(err)
				}
			}
			c.Close(websocket.StatusNormalClosure, "")
		})
	}
}
