package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestForwardRetriesClosedKeepAlive: the server closes a kept connection
// between two requests (an app's idle timeout). The next GET goes out on a
// fresh connection instead of failing with 503.
func TestForwardRetriesClosedKeepAlive(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	p, fr := front(t, Config{})
	d := setRoute(t, p, "alice", up)

	for i := range 3 {
		if status, body := get(t, fr.Client(), fr.URL+"/user/alice/x", nil); status != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, status, body)
		}
		// Close the server's side of every idle connection.
		up.CloseClientConnections()
		// Whether or not the close has reached the proxy yet, the next
		// request must succeed.
	}
	if g := d.n.Load(); g != 3 {
		t.Errorf("dialled %d times for 3 requests after 3 closes; want 3", g)
	}
	if s := p.Stats(); s.Status5xx != 0 || s.Unreachable != 0 {
		t.Errorf("stats %+v: a closed keep-alive connection counted as a failure", s)
	}
}

// TestForwardHopByHopHeaders: connection-level headers, and those the
// Connection header names, stay on their own hop in both directions.
func TestForwardHopByHopHeaders(t *testing.T) {
	var got http.Header
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set("Connection", "X-Hop-Resp")
		w.Header().Set("X-Hop-Resp", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-End", "kept")
		io.WriteString(w, "ok")
	}))
	p, fr := front(t, Config{})
	setRoute(t, p, "alice", up)

	req, _ := http.NewRequest("GET", fr.URL+"/user/alice/h", nil)
	req.Header.Set("Connection", "X-Hop-Req")
	req.Header.Set("X-Hop-Req", "secret")
	req.Header.Set("Proxy-Authorization", "Basic eA==")
	req.Header.Set("X-End-Req", "kept")
	req.Header.Set("Te", "trailers")
	res, err := fr.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, h := range []string{"X-Hop-Req", "Proxy-Authorization"} {
		if v := got.Get(h); v != "" {
			t.Errorf("server got %s: %q", h, v)
		}
	}
	if got.Get("Te") != "trailers" {
		t.Errorf("TE: trailers not passed on: %v", got)
	}
	if got.Get("X-End-Req") != "kept" {
		t.Errorf("end-to-end request header lost: %v", got)
	}
	if v := res.Header.Get("X-Hop-Resp"); v != "" {
		t.Errorf("browser got X-Hop-Resp %q", v)
	}
	if v := res.Header.Get("Keep-Alive"); v != "" {
		t.Errorf("browser got Keep-Alive %q", v)
	}
	if res.Header.Get("X-End") != "kept" {
		t.Errorf("end-to-end response header lost: %v", res.Header)
	}
}

// TestForwardSlowKnownLength: an answer of known length that the server
// produces slowly reaches the browser as produced, not when it ends.
func TestForwardSlowKnownLength(t *testing.T) {
	release := make(chan struct{})
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "-last")
	}))
	p, fr := front(t, Config{})
	setRoute(t, p, "alice", up)

	res, err := fr.Client().Get(fr.URL + "/user/alice/slow")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	first := make([]byte, 5)
	got := make(chan error, 1)
	go func() { _, err := io.ReadFull(res.Body, first); got <- err }()
	select {
	case err := <-got:
		if err != nil || string(first) != "first" {
			t.Fatalf("first part: %q, %v", first, err)
		}
	case <-time.After(hang):
		close(release)
		t.Fatal("the first part waited for the end of the answer")
	}
	close(release)
	rest, err := io.ReadAll(res.Body)
	if err != nil || string(rest) != "-last" {
		t.Fatalf("rest: %q, %v", rest, err)
	}
}

// TestForwardBodies: bodies of every size and framing arrive whole, and a
// connection is reused after each (HEAD, 204 and 304 have no body).
func TestForwardBodies(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 300_000/16) // > copyBuffer
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/user/alice/echo":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%d:%x", len(b), b[:min(len(b), 4)])
		case "/user/alice/big":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			w.Write(big)
		case "/user/alice/chunked":
			for i := range 3 {
				fmt.Fprintf(w, "part%d;", i)
				w.(http.Flusher).Flush()
			}
		case "/user/alice/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/user/alice/trailer":
			w.Header().Set("Trailer", "X-Sum")
			io.WriteString(w, "body")
			w.Header().Set("X-Sum", "42")
		}
	}))
	p, fr := front(t, Config{})
	d := setRoute(t, p, "alice", up)
	c := fr.Client()

	for _, n := range []int{0, 100, 5000, 1 << 20, 3 << 20} {
		body := bytes.Repeat([]byte{'b'}, n)
		res, err := c.Post(fr.URL+"/user/alice/echo", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if want := fmt.Sprintf("%d:%x", n, body[:min(n, 4)]); string(b) != want {
			t.Errorf("POST of %d bytes: server saw %q, want %q", n, b, want)
		}
	}
	// A request body of unknown length (chunked) goes through too.
	res, err := c.Post(fr.URL+"/user/alice/echo", "text/plain", io.MultiReader(strings.NewReader("abc"), strings.NewReader("def")))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "6:61626364" {
		t.Errorf("chunked POST: server saw %q", b)
	}

	if status, body := get(t, c, fr.URL+"/user/alice/big", nil); status != 200 || body != string(big) {
		t.Errorf("big answer: status %d, %d bytes, want %d", status, len(body), len(big))
	}
	if status, body := get(t, c, fr.URL+"/user/alice/chunked", nil); status != 200 || body != "part0;part1;part2;" {
		t.Errorf("chunked answer: %d %q", status, body)
	}
	if status, body := get(t, c, fr.URL+"/user/alice/empty", nil); status != 204 || body != "" {
		t.Errorf("204: %d %q", status, body)
	}
	res, err = c.Head(fr.URL + "/user/alice/big")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.ContentLength != int64(len(big)) {
		t.Errorf("HEAD: Content-Length %d, want %d", res.ContentLength, len(big))
	}
	res, err = c.Get(fr.URL + "/user/alice/trailer")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "body" || res.Trailer.Get("X-Sum") != "42" {
		t.Errorf("trailer: body %q, trailer %v", b, res.Trailer)
	}
	// Everything above, one request at a time, needed one connection
	// from forward (the uploads of unknown or large length take
	// ReverseProxy's own pool: one more).
	if g := d.n.Load(); g > 2 {
		t.Errorf("%d connections for sequential requests; want at most 2", g)
	}
}

// TestForwardCutShort: a server that breaks off an answer of known length
// leaves the browser with a broken response, never a complete-looking
// one, and the connection is not reused.
func TestForwardCutShort(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/user/alice/ok" {
			io.WriteString(w, "ok")
			return
		}
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "only part")
		w.(http.Flusher).Flush()
		c, _, _ := http.NewResponseController(w).Hijack()
		c.Close()
	}))
	p, fr := front(t, Config{})
	setRoute(t, p, "alice", up)

	conn, err := net.Dial("tcp", fr.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /user/alice/cut HTTP/1.1\r\nHost: hub\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(hang))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	if err == nil {
		t.Fatalf("a cut answer read as complete: %q", b)
	}
	if status, body := get(t, fr.Client(), fr.URL+"/user/alice/ok", nil); status != 200 || body != "ok" {
		t.Errorf("after a cut answer: %d %q", status, body)
	}
}

// TestForwardBoundsResponseHead: an app that sends an endless header line
// (it runs its user's code) gets a 503 for its own request, and the hub
// does not hold the line in memory.
func TestForwardBoundsResponseHead(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sent := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		bufio.NewReader(c).ReadString('\n')
		line := bytes.Repeat([]byte("a"), 64<<10)
		n, _ := c.Write([]byte("HTTP/1.1 200 OK\r\nX-Endless: "))
		total := int64(n)
		for total < 64<<20 {
			n, err := c.Write(line)
			total += int64(n)
			if err != nil {
				break
			}
		}
		sent <- total
	}()
	p, fr := front(t, Config{})
	if err := p.Routes().Set("alice", "", Target{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port}); err != nil {
		t.Fatal(err)
	}
	status, _ := get(t, fr.Client(), fr.URL+"/user/alice/", nil)
	if status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", status)
	}
	select {
	case n := <-sent:
		if n >= 64<<20 {
			t.Errorf("the hub read all %d bytes of the header line", n)
		}
	case <-time.After(hang):
		t.Fatal("the app's writes never ended: the hub kept reading")
	}
}

// postEcho POSTs body to the front and returns the status and answer.
func postEcho(t *testing.T, fr *httptest.Server, body string) (int, string) {
	t.Helper()
	res, err := fr.Client().Post(fr.URL+"/user/alice/api", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func echoBody(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	io.WriteString(w, "ok:"+string(b))
}

// TestForwardPostAfterAppIdleClose: apps close idle keep-alive
// connections (Node after 5 s). A POST, which cannot be retried once
// written, is never written into a connection idle for a second or more,
// and a route whose app closes sooner learns to avoid those too.
func TestForwardPostAfterAppIdleClose(t *testing.T) {
	for _, tc := range []struct {
		idle, pause time.Duration
		learn       bool // one POST may meet the close before the route learns
	}{{1200 * time.Millisecond, 1500 * time.Millisecond, false}, {100 * time.Millisecond, 300 * time.Millisecond, true}} {
		s := httptest.NewUnstartedServer(http.HandlerFunc(echoBody))
		s.Config.IdleTimeout = tc.idle
		s.Start()
		p, fr := front(t, Config{})
		setRoute(t, p, "alice", s)
		failed := 0
		for i := range 4 {
			status, body := postEcho(t, fr, `{"i":1}`)
			if status != http.StatusOK || body != `ok:{"i":1}` {
				failed++
				if !tc.learn || failed > 1 || i == 3 {
					t.Errorf("app idle timeout %v, POST %d after %v: %d %q", tc.idle, i, tc.pause, status, body)
				}
			}
			if i < 3 {
				time.Sleep(tc.pause)
			}
		}
		s.Close()
	}
}

// TestForwardRetryResendsBody: the app answered and reset the connection;
// the next POST's write fails before anything reaches it, and the retry on
// a fresh connection carries the same body.
func TestForwardRetryResendsBody(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err == nil {
					b, _ := io.ReadAll(req.Body)
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\nok:%s", 3+len(b), b)
					time.Sleep(20 * time.Millisecond)
				}
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}(c)
		}
	}()
	p, fr := front(t, Config{})
	if err := p.Routes().Set("alice", "", Target{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if status, body := postEcho(t, fr, `{"n":42}`); status != http.StatusOK || body != `ok:{"n":42}` {
			t.Errorf("POST %d: %d %q", i, status, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if s := p.Stats(); s.Unreachable != 0 {
		t.Errorf("stats %+v: a reset kept connection counted as an unreachable server", s)
	}
}

// TestForwardTrickleStillFlushed: a known-length answer arriving in small
// pieces, closer together than flushInterval, still reaches the browser
// as it comes, not when the buffer fills or the body ends.
func TestForwardTrickleStillFlushed(t *testing.T) {
	const chunks, size = 200, 50
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(chunks*size))
		for range chunks {
			io.WriteString(w, strings.Repeat("x", size))
			w.(http.Flusher).Flush()
			time.Sleep(5 * time.Millisecond)
		}
	}))
	p, fr := front(t, Config{})
	setRoute(t, p, "alice", up)
	start := time.Now()
	res, err := fr.Client().Get(fr.URL + "/user/alice/trickle")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if _, err := io.ReadFull(res.Body, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	io.Copy(io.Discard, res.Body)
	// The whole answer takes about a second; the first byte should
	// arrive about flushInterval after the first piece.
	if first > 500*time.Millisecond {
		t.Errorf("first byte after %v, whole answer after %v (flushInterval %v)", first, time.Since(start), flushInterval)
	}
}
