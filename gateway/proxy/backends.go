package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// backend is one keep-alive connection to a server (a tunnel channel, or a
// TCP connection in direct mode) with the reader its responses are parsed
// from.
type backend struct {
	net.Conn
	reusedAfter time.Duration // how long it was idle before this request
	head        headLimit     // bounds a response head: the app is the user's code
	br          *bufio.Reader
	idleSince   time.Time
}

// maxResponseHead bounds the bytes read while looking for the end of a
// response head (http.Transport's own bound is 10 MB). Without it an app
// could make the hub hold an endless header line in memory.
const maxResponseHead = 1 << 20

var errHeadTooLarge = errors.New("response head larger than 1 MiB")

// headLimit reads from r; while n >= 0, at most n more bytes.
type headLimit struct {
	r io.Reader
	n int64
}

func (l *headLimit) Read(p []byte) (int, error) {
	if l.n < 0 {
		return l.r.Read(p)
	}
	if l.n == 0 {
		return 0, errHeadTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// backends is a route's pool of idle connections for forward. The most
// recently used is reused first, so under a steady load the same few
// channels carry every request and the rest age out.
type backends struct {
	// closesAfter is the shortest idle time after which a kept
	// connection was found closed by the app (nanoseconds; 0: never).
	closesAfter atomic.Int64

	mu     sync.Mutex
	idle   []*backend // oldest first
	busy   map[*backend]struct{}
	timer  *time.Timer
	closed bool
}

// getBackend returns an idle connection to rt's server, or dials a new
// one. reused says the connection carried a request before: the server may
// have closed it meanwhile. The connection is busy until putBackend or
// dropBackend: closing the route closes it too, which ends the exchange
// on it (a request per route this way costs less than a context.AfterFunc
// on the route's context, whose lock every request of the route shares).
//
// Only a connection idle for less than maxIdle is taken; older ones stay
// for requests that may be retried.
func (rt *route) getBackend(ctx context.Context, c *Config, opened *atomic.Uint64, maxIdle time.Duration) (b *backend, reused bool, err error) {
	pool := &rt.pool
	now := time.Now()
	pool.mu.Lock()
	var stale []*backend
	if n := len(pool.idle); n > 0 {
		b = pool.idle[n-1]
		switch age := now.Sub(b.idleSince); {
		case age < maxIdle:
			pool.idle[n-1] = nil
			pool.idle = pool.idle[:n-1]
			pool.markBusy(b)
			pool.mu.Unlock()
			b.reusedAfter = age
			return b, true, nil
		case age >= c.IdleConnTimeout:
			// The newest is stale, so are all the others.
			stale, pool.idle = pool.idle, nil
		}
	}
	pool.mu.Unlock()
	for _, s := range stale {
		s.Close()
	}
	conn, err := rt.dial(c.DialTimeout, opened)(ctx, "tcp", rt.target().Addr())
	if err != nil {
		return nil, false, err
	}
	b = &backend{Conn: conn, head: headLimit{r: conn, n: -1}}
	b.br = bufio.NewReaderSize(&b.head, 8<<10)
	pool.mu.Lock()
	if pool.closed {
		pool.mu.Unlock()
		conn.Close()
		return nil, false, errRouteClosed
	}
	pool.markBusy(b)
	pool.mu.Unlock()
	return b, false, nil
}

func (pool *backends) markBusy(b *backend) {
	if pool.busy == nil {
		pool.busy = make(map[*backend]struct{})
	}
	pool.busy[b] = struct{}{}
}

var errRouteClosed = errors.New("the route was removed")

// dropBackend closes b, which getBackend returned.
func (rt *route) dropBackend(b *backend) {
	rt.pool.mu.Lock()
	delete(rt.pool.busy, b)
	rt.pool.mu.Unlock()
	b.Close()
}

// putBackend keeps b for the next request, unless the pool is full or the
// route is gone.
func (rt *route) putBackend(b *backend, c *Config) {
	pool := &rt.pool
	b.idleSince = time.Now()
	pool.mu.Lock()
	delete(pool.busy, b)
	if pool.closed || len(pool.idle) >= c.MaxIdleConnsPerRoute || b.br.Buffered() > 0 {
		// Bytes after a complete response are not an answer to anything.
		pool.mu.Unlock()
		b.Close()
		return
	}
	pool.idle = append(pool.idle, b)
	if pool.timer == nil {
		timeout := c.IdleConnTimeout
		pool.timer = time.AfterFunc(timeout, func() { rt.sweepBackends(timeout) })
	}
	pool.mu.Unlock()
}

// sweepBackends closes connections idle for longer than timeout: each
// holds a channel on the login node and keeps the user's SSH connection
// from being closed as unused.
func (rt *route) sweepBackends(timeout time.Duration) {
	pool := &rt.pool
	now := time.Now()
	pool.mu.Lock()
	var stale []*backend
	i := 0
	for i < len(pool.idle) && now.Sub(pool.idle[i].idleSince) >= timeout {
		stale = append(stale, pool.idle[i])
		pool.idle[i] = nil
		i++
	}
	pool.idle = append(pool.idle[:0], pool.idle[i:]...)
	if len(pool.idle) > 0 && !pool.closed {
		next := timeout - now.Sub(pool.idle[0].idleSince)
		pool.timer.Reset(max(next, time.Second))
	} else {
		pool.timer = nil
	}
	pool.mu.Unlock()
	for _, b := range stale {
		b.Close()
	}
}

// closeBackends closes the route's connections, idle and busy (ending
// the requests on them), and refuses new ones.
func (rt *route) closeBackends() {
	pool := &rt.pool
	pool.mu.Lock()
	idle := pool.idle
	for b := range pool.busy {
		idle = append(idle, b)
	}
	pool.idle, pool.busy = nil, nil
	pool.closed = true
	if pool.timer != nil {
		pool.timer.Stop()
		pool.timer = nil
	}
	pool.mu.Unlock()
	for _, b := range idle {
		b.Close()
	}
}

// idleBackends is the number of idle connections (for tests).
func (rt *route) idleBackends() int {
	rt.pool.mu.Lock()
	defer rt.pool.mu.Unlock()
	return len(rt.pool.idle)
}

// closedAfter notes that the app closed a connection idle for d.
func (pool *backends) closedAfter(d time.Duration) {
	for {
		old := pool.closesAfter.Load()
		if old != 0 && old <= int64(d) || pool.closesAfter.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}
