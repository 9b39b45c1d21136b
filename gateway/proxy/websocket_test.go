package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// echoServer echoes WebSocket messages. Accept's default origin check
// refuses an Origin whose host is not the request's Host with 403, as
// Notebook's check_origin does.
func echoServer(t testing.TB) *httptest.Server {
	return upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return // Accept has answered
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			typ, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, b); err != nil {
				return
			}
		}
	}))
}

// dialWS opens a WebSocket to path through the hub's front server, with the
// Origin a browser on the hub's page would send.
func dialWS(t testing.TB, fr *httptest.Server, path, origin string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(fr.URL, "http")+path, &websocket.DialOptions{HTTPHeader: h})
	if c != nil {
		c.SetReadLimit(1 << 20)
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, res, err
}

func echo(t testing.TB, c *websocket.Conn, typ websocket.MessageType, msg []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if err := c.Write(ctx, typ, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	gt, got, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if gt != typ || string(got) != string(msg) {
		t.Fatalf("echo = %v %.40q; want %v %.40q", gt, got, typ, msg)
	}
}

func TestWebSocketEcho(t *testing.T) {
	for _, tc := range []struct {
		name       string
		origin     string // "%s" is the hub's address
		wantStatus int    // of a refused handshake; 0 when it succeeds
	}{
		{name: "origin is the hub", origin: "http://%s"},
		{name: "no origin", origin: ""},
		{name: "foreign origin refused upstream", origin: "http://evil.example", wantStatus: http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, fr := front(t, Config{})
			setRoute(t, p, "alice", echoServer(t))
			origin := strings.ReplaceAll(tc.origin, "%s", fr.Listener.Addr().String())

			c, res, err := dialWS(t, fr, "/user/alice/api/kernels/5f1c/channels?session_id=abc", origin)
			if tc.wantStatus != 0 {
				if err == nil || res == nil || res.StatusCode != tc.wantStatus {
					t.Fatalf("handshake: %v, %v; want refused with %d", err, res, tc.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake through the proxy: %v", err)
			}
			if st := p.Stats(); st.WebSocketsOpen != 1 {
				t.Errorf("WebSocketsOpen = %d while one is open", st.WebSocketsOpen)
			}
			echo(t, c, websocket.MessageText, []byte(`{"header": {"msg_type": "execute_request"}, "content": {"code": "print('héllo ✓')"}}`))
			echo(t, c, websocket.MessageBinary, []byte(strings.Repeat("\x00\xff", 200_000)))
			echo(t, c, websocket.MessageText, []byte("x"))

			if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
				t.Errorf("close handshake through the proxy: %v", err)
			}
			eventually(t, "the proxy to count the closed WebSocket", func() bool {
				st := p.Stats()
				return st.WebSocketsOpen == 0 && st.Status1xx == 1
			})
			st := p.Stats()
			if st.WebSocketsTotal != 1 || st.WebSocketBytesIn < 400_000 || st.WebSocketBytesOut < 400_000 {
				t.Errorf("stats %+v; want 1 WebSocket and the echoed bytes counted both ways", st)
			}
		})
	}
}

func TestDeleteClosesWebSocket(t *testing.T) {
	p, fr := front(t, Config{})
	setRoute(t, p, "alice", echoServer(t))
	c, _, err := dialWS(t, fr, "/user/alice/terminals/websocket/1", "")
	if err != nil {
		t.Fatal(err)
	}
	echo(t, c, websocket.MessageText, []byte("ls\r"))

	p.Routes().Delete("alice", "")
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	_, _, err = c.Read(ctx)
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read after Delete: %v; want the connection closed", err)
	}
	eventually(t, "WebSocketsOpen to drop to 0", func() bool { return p.Stats().WebSocketsOpen == 0 })
}
