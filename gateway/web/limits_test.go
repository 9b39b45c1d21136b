package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hpcgate/gateway"
	"hpcgate/gateway/config"
	"hpcgate/templates"
)

// syncBuffer is a log sink the server's goroutines may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

// limitedEnv is newEnv's hub served by the http.Server that serve uses
// (Server.HTTPServer, with the site's limits as set changes them), logging
// to a buffer, with metrics and a counting directory.
type limitedEnv struct {
	*env
	log     *syncBuffer
	metrics *gateway.Metrics
	binds   atomic.Int32 // calls to the directory
}

func newLimitedEnv(t *testing.T, set func(*config.Limits)) *limitedEnv {
	t.Helper()
	le := &limitedEnv{env: newEnv(t), log: &syncBuffer{}, metrics: gateway.NewMetrics()}
	if set != nil {
		set(&le.cfg.Hub.Limits)
	}
	if errs := le.cfg.Validate(); len(errs) > 0 {
		t.Fatalf("test limits: %v", errs)
	}
	srv, err := New(Options{
		Config: le.cfg, Store: le.store, Hub: le.hub,
		Auth: &fakeAuth{AuthenticateFn: func(ctx context.Context, u, p string) (*gateway.DirectoryUser, error) {
			le.binds.Add(1)
			return directoryAuth(ctx, u, p)
		}},
		Logger:       slog.New(slog.NewTextHandler(le.log, nil)),
		CookieSecret: le.secret, Version: "1.2.3-test", Templates: templates.FS,
		Now: le.clock.Now, KeepAlive: 100 * time.Millisecond, Metrics: le.metrics,
	})
	if err != nil {
		t.Fatal(err)
	}
	le.srv = srv
	le.ts.Close()
	le.ts = httptest.NewUnstartedServer(nil)
	le.ts.Config = srv.HTTPServer("", nil)
	le.ts.Start()
	t.Cleanup(le.ts.Close)
	return le
}

// refused reads hpcgate_requests_refused_total{limit=limit}.
func (le *limitedEnv) refused(limit string) float64 {
	le.t.Helper()
	mfs, err := le.metrics.Registry.Gather()
	if err != nil {
		le.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "hpcgate_requests_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "limit" && l.GetValue() == limit {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	le.t.Fatalf("no hpcgate_requests_refused_total{limit=%q}", limit)
	return 0
}

// TestHugeUsername: a username of megabytes is refused before it is read
// whole, and one under the body limit is refused before the rate limiter,
// the directory or the log see it; the log stays small either way.
func TestHugeUsername(t *testing.T) {
	le := newLimitedEnv(t, nil)
	b := le.browser()
	tok := b.xsrf("/hub/login")
	before := le.log.Len()

	huge := strings.Repeat("a", 9<<20)
	start := time.Now()
	resp, _ := b.post("/hub/login", url.Values{"_xsrf": {tok}, "username": {huge}, "password": {"x"}})
	if resp.StatusCode != http.StatusRequestEntityTooLarge || time.Since(start) > 5*time.Second {
		t.Errorf("9 MiB username: %d after %v, want a quick 413", resp.StatusCode, time.Since(start))
	}

	// Under the body limit, over the name limit.
	for _, name := range []string{strings.Repeat("b", 512<<10), "Hunter2!secret", "  " + strings.Repeat("c", 300)} {
		tok := b.xsrf("/hub/login")
		resp, body := b.post("/hub/login", url.Values{"_xsrf": {tok}, "username": {name}, "password": {"x"}})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, msgInvalidLogin) {
			t.Errorf("username of %d bytes: %d, want 403 %q", len(name), resp.StatusCode, msgInvalidLogin)
		}
		if strings.Contains(body, strings.TrimSpace(name)[:10]) {
			t.Errorf("the login form shows the refused name again (%d bytes)", len(name))
		}
	}
	logged := le.log.String()[before:]
	if n := len(logged); n > 8<<10 {
		t.Errorf("four refused logins wrote %d bytes of log", n)
	}
	for _, s := range []string{"bbbbbbbbbb", "Hunter2", "cccccccccc"} {
		if strings.Contains(logged, s) {
			t.Errorf("the log holds the refused name %q:\n%s", s, logged)
		}
	}
	if !strings.Contains(logged, "user_length=524288") {
		t.Errorf("the log does not say how long the refused name was:\n%s", logged)
	}
	if n := le.binds.Load(); n != 0 {
		t.Errorf("the directory was asked %d times about invalid names", n)
	}
	le.srv.limiter.mu.Lock()
	keys := len(le.srv.limiter.failures)
	le.srv.limiter.mu.Unlock()
	if keys != 0 {
		t.Errorf("the rate limiter keeps %d keys for refused names", keys)
	}
	if got := le.refused("username"); got != 3 {
		t.Errorf("hpcgate_requests_refused_total{limit=username} = %v, want 3", got)
	}
	if got := le.refused("max_body_bytes"); got != 1 {
		t.Errorf("hpcgate_requests_refused_total{limit=max_body_bytes} = %v, want 1", got)
	}
}

// TestFailedLoginLogsOnlyKnownNames: a wrong password for a name the hub
// has seen log in names the user; for any other name (perhaps a password
// typed in the name box) only its length is logged. Names are keyed on
// normalised.
func TestFailedLoginLogsOnlyKnownNames(t *testing.T) {
	le := newLimitedEnv(t, nil)
	le.browser().login("alice", "alice-pass")
	b := le.browser()
	for _, name := range []string{"Alice", "hunter2pass"} {
		tok := b.xsrf("/hub/login")
		if resp, _ := b.post("/hub/login", url.Values{"_xsrf": {tok}, "username": {name}, "password": {"wrong"}}); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s with a wrong password: %d", name, resp.StatusCode)
		}
	}
	logged := le.log.String()
	if !strings.Contains(logged, `msg="login failed" user=alice`) {
		t.Errorf("a wrong password for alice is not logged with her name:\n%s", logged)
	}
	if strings.Contains(logged, "hunter2pass") || !strings.Contains(logged, "user_length=11") {
		t.Errorf("an unknown name is logged, or not by its length:\n%s", logged)
	}
	le.srv.limiter.mu.Lock()
	_, keyed := le.srv.limiter.failures[limiterKey("alice", "127.0.0.1")]
	le.srv.limiter.mu.Unlock()
	if !keyed {
		t.Error(`"Alice" was not counted against alice`)
	}
}

// TestBodyLimit: bodies of the hub's own routes are capped (declared or
// chunked); /user/ bodies go to the server whole.
func TestBodyLimit(t *testing.T) {
	le := newLimitedEnv(t, func(l *config.Limits) { l.MaxBodyBytes = 64 << 10 })
	alice := le.apiToken("alice", TokenUser, 0, time.Time{})
	big := `{"note": "` + strings.Repeat("x", 100<<10) + `"}`

	resp, body := le.api("POST", "/hub/api/users/alice/tokens", alice, big)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "hub.limits.max_body_bytes") {
		t.Errorf("100K JSON: %d %s, want 413 naming the limit", resp.StatusCode, body)
	}
	// Chunked: no Content-Length to refuse up front.
	req, _ := http.NewRequest("POST", le.url("/hub/security/csp-report"), io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked 100K CSP report: %d, want 413", r.StatusCode)
	}
	// A small report is taken, and logged bounded.
	req, _ = http.NewRequest("POST", le.url("/hub/security/csp-report"), strings.NewReader(`{"csp-report": {"blocked-uri": "inline"}}`))
	if r, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if r.Body.Close(); r.StatusCode != http.StatusNoContent {
		t.Errorf("small CSP report: %d", r.StatusCode)
	}
	// Under the limit, the handler sees the whole body (cut short, the
	// JSON would not parse).
	resp, body = le.api("POST", "/hub/api/users/alice/tokens", alice, `{"note": "`+strings.Repeat("y", 150)+`"`+strings.Repeat(" ", 32<<10)+`}`)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(body, strings.Repeat("y", 150)) {
		t.Errorf("1K JSON: %d %.200s", resp.StatusCode, body)
	}

	var got int
	le.hub.ServeProxyFn = func(w http.ResponseWriter, r *http.Request, user, server string) {
		b, _ := io.ReadAll(r.Body)
		got = len(b)
		w.WriteHeader(http.StatusOK)
	}
	upload := strings.Repeat("z", 1<<20)
	if resp, _ := le.api("PUT", "/user/alice/api/contents/big.txt", alice, upload); resp.StatusCode != http.StatusOK || got != len(upload) {
		t.Errorf("1M upload through the proxy: %d, server got %d bytes", resp.StatusCode, got)
	}
}

// TestSlowBody: a body trickled in (slowloris) is cut off at read_timeout.
func TestSlowBody(t *testing.T) {
	le := newLimitedEnv(t, func(l *config.Limits) { l.ReadTimeout = config.Duration(500 * time.Millisecond) })
	conn, err := net.Dial("tcp", le.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /hub/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		io.Copy(io.Discard, conn) // until the server closes
		closed <- time.Since(start)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < 100; i++ {
		select {
		case d := <-closed:
			if d > 3*time.Second {
				t.Errorf("slow body cut off after %v, want about 500ms", d)
			}
			return
		case <-tick.C:
			conn.Write([]byte("a"))
		}
	}
	t.Fatal("a body sent at 10 bytes a second kept the connection open for 10s")
}

// TestIdleKeepAliveClosed: a keep-alive connection with no new request is
// closed after idle_timeout.
func TestIdleKeepAliveClosed(t *testing.T) {
	le := newLimitedEnv(t, func(l *config.Limits) { l.IdleTimeout = config.Duration(300 * time.Millisecond) })
	conn, err := net.Dial("tcp", le.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /hub/health HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("health: %d, close %v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF (closed by the server)", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
		t.Errorf("idle connection closed after %v, want about 300ms", d)
	}
}

// TestStreamOutlivesTimeouts: a progress stream runs far past read_timeout
// and write_timeout, with keepalives, and delivers the event at its end.
func TestStreamOutlivesTimeouts(t *testing.T) {
	le := newLimitedEnv(t, func(l *config.Limits) {
		l.ReadTimeout = config.Duration(200 * time.Millisecond)
		l.WriteTimeout = config.Duration(200 * time.Millisecond)
	})
	le.serverIs(queued("alice", le.clock.Now()))
	events := make(chan gateway.Progress, 1)
	le.hub.SubscribeFn = func(string, string) (<-chan gateway.Progress, func()) { return events, func() {} }
	alice := le.apiToken("alice", TokenUser, 0, time.Time{})
	time.AfterFunc(1500*time.Millisecond, func() {
		events <- gateway.Progress{State: gateway.StateReady, Ready: true, Progress: 100, URL: "/user/alice/"}
	})
	start := time.Now()
	got, keepalives := readEvents(t, le.stream(alice, "alice"))
	if len(got) != 2 || got[1]["ready"] != true {
		t.Fatalf("after %v: events %v, want the first and the ready event", time.Since(start), got)
	}
	if keepalives < 5 {
		t.Errorf("%d keepalives in %v", keepalives, time.Since(start))
	}
	// A page still gets the write deadline: the hub's own answers are
	// bounded (this one is quick, so it passes).
	if resp, _ := le.browser().get("/hub/login"); resp.StatusCode != http.StatusOK {
		t.Errorf("login page: %d", resp.StatusCode)
	}
}

// TestStreamLimit: a user may hold streams_per_user progress streams; one
// more gets 429 naming the limit, and another user is not affected.
func TestStreamLimit(t *testing.T) {
	le := newLimitedEnv(t, func(l *config.Limits) { l.StreamsPerUser = 2 })
	now := le.clock.Now()
	le.serverIs(queued("alice", now), queued("bob", now))
	var open sync.WaitGroup
	le.hub.SubscribeFn = func(string, string) (<-chan gateway.Progress, func()) {
		open.Done()
		return make(chan gateway.Progress), func() {}
	}
	alice := le.apiToken("alice", TokenUser, 0, time.Time{})
	bob := le.apiToken("bob", TokenUser, 0, time.Time{})

	open.Add(2)
	first := le.stream(alice, "alice")
	le.stream(alice, "alice")
	open.Wait()
	third := le.stream(alice, "alice")
	var e apiError
	json.NewDecoder(third.Body).Decode(&e)
	if third.StatusCode != http.StatusTooManyRequests || e.Status != 429 || !strings.Contains(e.Message, "hub.limits.streams_per_user") {
		t.Errorf("third stream: %d %+v, want 429 naming hub.limits.streams_per_user", third.StatusCode, e)
	}
	if got := le.refused("streams_per_user"); got != 1 {
		t.Errorf("refused streams: %v, want 1", got)
	}
	open.Add(1)
	if r := le.stream(bob, "bob"); r.StatusCode != http.StatusOK {
		t.Errorf("bob's stream: %d", r.StatusCode)
	}
	open.Wait()

	// A closed stream frees its slot.
	first.Body.Close()
	waitUntil(t, func() bool { return le.srv.streams.count("alice") == 1 })
	open.Add(1)
	if r := le.stream(alice, "alice"); r.StatusCode != http.StatusOK {
		t.Errorf("a stream after one closed: %d", r.StatusCode)
	}
	open.Wait()
}

// TestWebSocketLimit: a user may hold websockets_per_user proxied
// WebSockets; one more gets 429 naming the limit, plain requests still go
// through, and a closed WebSocket frees its slot.
func TestWebSocketLimit(t *testing.T) {
	le := newLimitedEnv(t, func(l *config.Limits) { l.WebSocketsPerUser = 2 })
	release := make(chan struct{})
	var open sync.WaitGroup
	le.hub.ServeProxyFn = func(w http.ResponseWriter, r *http.Request, user, server string) {
		if r.Header.Get("Upgrade") == "" {
			w.WriteHeader(http.StatusOK)
			return
		}
		// A WebSocket: ServeProxy returns when it closes.
		w.WriteHeader(http.StatusSwitchingProtocols)
		open.Done()
		<-release
	}
	alice := le.apiToken("alice", TokenUser, 0, time.Time{})
	upgrade := func() chan int {
		done := make(chan int, 1)
		go func() {
			conn, err := net.Dial("tcp", le.ts.Listener.Addr().String())
			if err != nil {
				done <- 0
				return
			}
			defer conn.Close()
			fmt.Fprintf(conn, "GET /user/alice/api/kernels/1/channels HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nAuthorization: token %s\r\n\r\n", alice)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				done <- 0
				return
			}
			done <- resp.StatusCode
			io.Copy(io.Discard, resp.Body)
		}()
		return done
	}
	open.Add(2)
	a, b := upgrade(), upgrade()
	open.Wait()
	if code := <-upgrade(); code != http.StatusTooManyRequests {
		t.Errorf("third WebSocket: %d, want 429", code)
	}
	if got := le.refused("websockets_per_user"); got != 1 {
		t.Errorf("refused WebSockets: %v, want 1", got)
	}
	if resp, _ := le.api("GET", "/user/alice/api/status", alice, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("a plain request at the WebSocket limit: %d", resp.StatusCode)
	}
	close(release)
	<-a
	<-b
	waitUntil(t, func() bool { return le.srv.websockets.count("alice") == 0 })
}

func waitUntil(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("condition not met within 5s")
}
