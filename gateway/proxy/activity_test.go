package proxy

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestHTTPActivityRateLimited(t *testing.T) {
	type step struct {
		advance time.Duration // before the request
		report  bool          // OnActivity is called for it
	}
	for _, tc := range []struct {
		name     string
		interval time.Duration
		steps    []step
	}{
		{
			name: "default 30s",
			steps: []step{
				{0, true}, {10 * time.Second, false}, {19 * time.Second, false},
				{time.Second, true}, {29 * time.Second, false}, {time.Minute, true},
			},
		},
		{
			name:     "configured 5s",
			interval: 5 * time.Second,
			steps:    []step{{0, true}, {4 * time.Second, false}, {time.Second, true}, {5 * time.Second, true}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk, act := newClock(), &activity{}
			p, fr := front(t, Config{Now: clk.Now, OnActivity: act.record, ActivityInterval: tc.interval})
			up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
			setRoute(t, p, "alice", up)

			if last, ok := p.Routes().LastActivity("alice", ""); !ok || !last.IsZero() {
				t.Fatalf("LastActivity before any traffic = %v, %v; want zero, true", last, ok)
			}
			for i, s := range tc.steps {
				now := clk.Add(s.advance)
				get(t, fr.Client(), fr.URL+"/user/alice/api/contents", nil)
				var want []string
				if s.report {
					want = []string{"alice/@" + now.Format(time.RFC3339)}
				}
				if got := act.take(); !slices.Equal(got, want) {
					t.Errorf("step %d (+%v): OnActivity calls %q; want %q", i, s.advance, got, want)
				}
				if last, _ := p.Routes().LastActivity("alice", ""); !last.Equal(now) {
					t.Errorf("step %d: LastActivity = %v; want %v", i, last, now)
				}
			}

			// Routes are limited separately.
			setRoute(t, p, "bob", up)
			now := clk.Now()
			get(t, fr.Client(), fr.URL+"/user/bob/", nil)
			if got, want := act.take(), []string{"bob/@" + now.Format(time.RFC3339)}; !slices.Equal(got, want) {
				t.Errorf("bob's first request: OnActivity calls %q; want %q", got, want)
			}
		})
	}
}

// WebSocket traffic is activity although no new request arrives: kernels
// and terminals live on one connection for hours.
func TestWebSocketActivity(t *testing.T) {
	clk, act := newClock(), &activity{}
	p, fr := front(t, Config{Now: clk.Now, OnActivity: act.record})
	setRoute(t, p, "alice", echoServer(t))
	at := func(tm time.Time) []string { return []string{"alice/@" + tm.Format(time.RFC3339)} }

	t0 := clk.Now()
	c, _, err := dialWS(t, fr, "/user/alice/api/kernels/k/channels", "")
	if err != nil {
		t.Fatal(err)
	}
	echo(t, c, websocket.MessageText, []byte("a"))
	if got := act.take(); !slices.Equal(got, at(t0)) {
		t.Errorf("after the handshake: OnActivity calls %q; want %q", got, at(t0))
	}

	// The browser's frame is read by the proxy before the server can
	// echo it, so the report has happened by the time the echo is back.
	t1 := clk.Add(31 * time.Second)
	echo(t, c, websocket.MessageText, []byte("b"))
	if got := act.take(); !slices.Equal(got, at(t1)) {
		t.Errorf("after a frame 31s later: OnActivity calls %q; want %q", got, at(t1))
	}

	t2 := clk.Add(10 * time.Second)
	echo(t, c, websocket.MessageText, []byte("c"))
	if got := act.take(); len(got) != 0 {
		t.Errorf("after a frame 10s later: OnActivity calls %q; want none", got)
	}
	if last, _ := p.Routes().LastActivity("alice", ""); !last.Equal(t2) {
		t.Errorf("LastActivity = %v; want %v", last, t2)
	}
}

// Run with -race: requests to several routes, WebSockets, route changes and
// Stats all at once.
func TestConcurrentTraffic(t *testing.T) {
	act := &activity{}
	p, fr := front(t, Config{OnActivity: act.record, ActivityInterval: time.Nanosecond})
	users := []string{"alice", "bob", "carol"}
	for _, u := range users {
		up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, u+" "+r.URL.RawQuery)
		}))
		setRoute(t, p, u, up)
	}
	setRoute(t, p, "dave", echoServer(t))
	churn := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	churnHost, churnPort := hostPort(t, churn)

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 12 {
		wg.Go(func() {
			for i := range 30 {
				u := users[(g+i)%len(users)]
				q := fmt.Sprintf("g=%d&i=%d", g, i)
				res, err := fr.Client().Get(fr.URL + "/user/" + u + "/api/x?" + q)
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if want := u + " " + q; string(b) != want {
					errs <- fmt.Errorf("got %q; want %q", b, want)
				}
			}
		})
	}
	for range 3 {
		wg.Go(func() {
			c, _, err := dialWS(t, fr, "/user/dave/api/kernels/k/channels", "")
			if err != nil {
				errs <- err
				return
			}
			for i := range 20 {
				echo(t, c, websocket.MessageText, []byte(fmt.Sprint(i)))
			}
			c.Close(websocket.StatusNormalClosure, "")
		})
	}
	wg.Go(func() {
		for i := range 200 {
			if i%2 == 0 {
				p.Routes().Set("erin", "", Target{Host: churnHost, Port: churnPort + i%2})
			} else {
				p.Routes().Delete("erin", "")
			}
			p.Stats()
			p.Routes().Get("alice", "")
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := p.Stats(); st.Status2xx != 12*30 {
		t.Errorf("Status2xx = %d; want %d", st.Status2xx, 12*30)
	}
	if len(act.take()) == 0 {
		t.Errorf("no activity reported")
	}
}
