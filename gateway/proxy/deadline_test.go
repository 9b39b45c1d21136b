package proxy

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// frontWithTimeouts is front served with the hub's short read and write
// timeouts, as hub.limits sets them for its own pages.
func frontWithTimeouts(t *testing.T, d time.Duration) (*Proxy, *httptest.Server) {
	t.Helper()
	p := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.ServeRoute(w, r, "alice", "")
	}))
	s.Config.ReadTimeout, s.Config.WriteTimeout = d, d
	s.Start()
	t.Cleanup(s.Close)
	t.Cleanup(p.Close)
	return p, s
}

// TestProxiedOutlivesTimeouts: a WebSocket and a slow upload through the
// proxy last well past the hub server's ReadTimeout and WriteTimeout.
func TestProxiedOutlivesTimeouts(t *testing.T) {
	const limit = 200 * time.Millisecond
	p, fr := frontWithTimeouts(t, limit)
	setRoute(t, p, "alice", echoServer(t))
	c, _, err := dialWS(t, fr, "/user/alice/api/kernels/1/channels", "")
	if err != nil {
		t.Fatal(err)
	}
	echo(t, c, websocket.MessageText, []byte("first"))
	time.Sleep(4 * limit)
	echo(t, c, websocket.MessageText, []byte("after the timeouts"))

	got := make(chan int, 1)
	setRoute(t, p, "alice", upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- len(b)
		w.WriteHeader(http.StatusCreated)
	})))
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 8; i++ {
			pw.Write([]byte(strings.Repeat("u", 1000)))
			time.Sleep(limit / 2)
		}
		pw.Close()
	}()
	resp, err := http.Post(fr.URL+"/user/alice/api/contents/up.txt", "text/plain", pr)
	if err != nil {
		t.Fatalf("slow upload through the proxy: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || <-got != 8000 {
		t.Errorf("slow upload: %d; want 201 and all 8000 bytes upstream", resp.StatusCode)
	}
}
