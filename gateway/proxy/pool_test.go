package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestSteadyLoadOpensNoNewChannels: 32 clients in parallel, round after
// round, reuse the connections the first rounds opened. With a pool smaller
// than the concurrency every request beyond the pool would close its
// channel and the next open one (hundreds per round). A connection goes
// back to the pool before its response leaves the hub's buffers, so no
// more are ever open than requests at once: the first rounds need not
// have reached all 32 (a loaded machine staggers the clients), but the
// total stays within the concurrency.
func TestSteadyLoadOpensNoNewChannels(t *testing.T) {
	const clients, rounds = 32, 5
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"version": "6.4.12"}`)
	}))
	p, fr := front(t, Config{})
	d := setRoute(t, p, "alice", up)
	// The front's client keeps as many connections as there are clients,
	// so the load on the proxy is steady too.
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer c.CloseIdleConnections()

	round := func() {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range clients {
			wg.Go(func() {
				<-start
				for range 20 {
					status, _ := get(t, c, fr.URL+"/user/alice/api", nil)
					if status != http.StatusOK {
						t.Errorf("status %d", status)
						return
					}
				}
			})
		}
		close(start)
		wg.Wait()
	}
	round()
	round()
	first := p.Stats().ChannelsOpened
	if first == 0 || first > 2*clients {
		t.Fatalf("warm-up opened %d channels; want 1..%d", first, 2*clients)
	}
	if int64(first) != d.n.Load() {
		t.Errorf("ChannelsOpened %d; the dial function was called %d times", first, d.n.Load())
	}
	for range rounds {
		round()
	}
	if total := p.Stats().ChannelsOpened; total > clients+clients/8 {
		t.Errorf("%d requests by %d clients opened %d channels (%d in warm-up); want at most %d",
			(rounds+2)*clients*20, clients, total, first, clients+clients/8)
	}
}

// TestClientGoneIsNoServerError: a browser that leaves while the server
// is still answering is counted as gone, not as a 5xx, and the server's
// health is not questioned.
func TestClientGoneIsNoServerError(t *testing.T) {
	release := make(chan struct{})
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "late")
	}))
	defer close(release)
	var mu sync.Mutex
	var onError []error
	p, fr := front(t, Config{OnError: func(user, server string, err error) {
		mu.Lock()
		onError = append(onError, err)
		mu.Unlock()
	}})
	setRoute(t, p, "alice", up)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fr.URL+"/user/alice/slow", nil)
	if _, err := fr.Client().Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("request: %v; want the client's deadline", err)
	}
	eventually(t, "the request counted as client gone", func() bool { return p.Stats().ClientGone == 1 })
	st := p.Stats()
	if st.Status5xx != 0 || st.Status2xx != 0 || st.Unreachable != 0 {
		t.Errorf("stats %+v; want only ClientGone", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(onError) != 0 {
		t.Errorf("OnError called with %v; a client leaving says nothing about the server", onError)
	}
}
