package proxy

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hang bounds waits that only end if the proxy works; reaching it is a
// failure, never a measurement.
const hang = 10 * time.Second

// upstream starts a single-user server stand-in on loopback.
func upstream(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// hostPort splits a test server's address.
func hostPort(t testing.TB, s *httptest.Server) (string, int) {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return u.Hostname(), port
}

// dialer counts dials and remembers the addresses asked for. It maps every
// address to the upstream's, as an SSH tunnel maps node:port to a socket
// it cannot reach itself.
type dialer struct {
	to    string // real address; "" dials the address asked for
	n     atomic.Int64
	mu    sync.Mutex
	addrs []string
}

func (d *dialer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.n.Add(1)
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	to := d.to
	if to == "" {
		to = addr
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, to)
}

func (d *dialer) asked() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

// setRoute points user's default server at s through a counting dialer.
func setRoute(t testing.TB, p *Proxy, user string, s *httptest.Server) *dialer {
	t.Helper()
	host, port := hostPort(t, s)
	d := &dialer{}
	if err := p.Routes().Set(user, "", Target{Host: host, Port: port, Dial: d.Dial}); err != nil {
		t.Fatal(err)
	}
	return d
}

// front starts the hub's side: a server that hands every /user/<name>/…
// request to the proxy for <name>'s default server, as the web layer does
// after authorizing it.
func front(t testing.TB, cfg Config) (*Proxy, *httptest.Server) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p := New(cfg)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/user/")
		user, _, _ := strings.Cut(rest, "/")
		if !ok || user == "" {
			http.NotFound(w, r)
			return
		}
		p.ServeRoute(w, r, user, "")
	}))
	// Cleanups run last first: routes are closed (ending WebSockets and
	// streams) before the server waits for its requests.
	t.Cleanup(s.Close)
	t.Cleanup(p.Close)
	return p, s
}

// get fetches url and returns the status and body.
func get(t testing.TB, c *http.Client, url string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// clock is a settable clock for activity.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// activity collects OnActivity calls.
type activity struct {
	mu    sync.Mutex
	calls []string // "user/server@time"
}

func (a *activity) record(user, server string, t time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, user+"/"+server+"@"+t.Format(time.RFC3339))
}

func (a *activity) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls
	a.calls = nil
	return c
}

// eventually waits for cond, which becomes true once goroutines the test
// cannot join (the proxy's side of a closed connection) have finished.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hang)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
