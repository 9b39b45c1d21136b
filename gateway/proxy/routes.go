package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DialFunc opens a connection to addr ("host:port") on the compute node. It
// has the signature of net.Dialer.DialContext and ssh.Client.DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Target is where a user's server listens, and how to get there.
type Target struct {
	// Host and Port are the server's address as seen from the end of the
	// tunnel (the compute node's name and the port the job chose).
	Host string
	Port int
	// Dial opens connections to Host:Port, normally through the SSH
	// connection to the cluster's login node. Default: a direct TCP dial.
	Dial DialFunc
	// App, for an app the proxy authenticates with the job's secret,
	// says how (app.go). nil forwards requests as the browser sent them.
	App *App
}

// Addr is Host:Port, bracketed for IPv6.
func (t Target) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

func (t Target) validate() error {
	switch {
	case t.Host == "":
		return errors.New("target has no host")
	case t.Port < 1 || t.Port > 65535:
		return fmt.Errorf("target port %d is out of range", t.Port)
	}
	return nil
}

type routeKey struct{ user, server string }

// Routes maps a user's server (user name, server name, "" for the default
// server) to its Target. It is safe for concurrent use; the zero value is
// an empty table. One Routes serves one Proxy.
type Routes struct {
	mu sync.RWMutex
	m  map[routeKey]*route
}

// Set points user's server at t. If the route exists with the same Host
// and Port it is kept (its pooled connections, open WebSockets and
// activity) and only the dial function is swapped, so the hub may Set
// routes again on every poll. Otherwise the old route, if any, is closed as
// Delete would.
func (rs *Routes) Set(user, server string, t Target) error {
	if user == "" {
		return fmt.Errorf("set route for server %q: no user name", server)
	}
	if err := t.validate(); err != nil {
		return fmt.Errorf("set route for %s: %w", routeName(user, server), err)
	}
	if t.Dial == nil {
		t.Dial = (&net.Dialer{}).DialContext
	}
	k := routeKey{user, server}
	rs.mu.Lock()
	old := rs.m[k]
	if old != nil && old.sameAddr(t) {
		old.setTarget(t)
		rs.mu.Unlock()
		return nil
	}
	if rs.m == nil {
		rs.m = make(map[routeKey]*route)
	}
	rs.m[k] = newRoute(user, server, t)
	rs.mu.Unlock()
	if old != nil {
		old.close()
	}
	return nil
}

// Delete removes the route and ends all traffic through it: requests in
// flight (long downloads, event streams) and WebSockets are cut and pooled
// connections closed. It reports whether the route existed.
func (rs *Routes) Delete(user, server string) bool {
	k := routeKey{user, server}
	rs.mu.Lock()
	old := rs.m[k]
	delete(rs.m, k)
	rs.mu.Unlock()
	if old == nil {
		return false
	}
	old.close()
	return true
}

// Get returns the route's target.
func (rs *Routes) Get(user, server string) (Target, bool) {
	rt := rs.lookup(user, server)
	if rt == nil {
		return Target{}, false
	}
	return rt.target(), true
}

// LastActivity returns when traffic last went through the route (zero if
// none yet). Unlike the OnActivity callback it is not rate-limited.
func (rs *Routes) LastActivity(user, server string) (time.Time, bool) {
	rt := rs.lookup(user, server)
	if rt == nil {
		return time.Time{}, false
	}
	return rt.lastActivity(), true
}

// Len returns the number of routes.
func (rs *Routes) Len() int {
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	return len(rs.m)
}

// Clear deletes every route, as Delete does.
func (rs *Routes) Clear() {
	rs.mu.Lock()
	old := rs.m
	rs.m = nil
	rs.mu.Unlock()
	for _, rt := range old {
		rt.close()
	}
}

func (rs *Routes) keys() [][2]string {
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	out := make([][2]string, 0, len(rs.m))
	for k := range rs.m {
		out = append(out, [2]string{k.user, k.server})
	}
	return out
}

func (rs *Routes) lookup(user, server string) *route {
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	return rs.m[routeKey{user, server}]
}

// route is one entry of the table with what belongs to it: its own
// http.Transport, so pooled connections are reused only through the tunnel
// they were dialled through and never handed to another user's server that
// later gets the same node and port; a context that ends when the route is
// removed, which every proxied request is bound to; and activity.
type route struct {
	user, server string

	mu sync.Mutex
	t  Target

	ctx    context.Context
	cancel context.CancelFunc

	tr *http.Transport // guarded by mu; made on first use

	pool backends // idle connections for forward

	active   atomic.Int64 // unix nanoseconds of the last traffic
	reported atomic.Int64 // unix nanoseconds of the last OnActivity call
}

func newRoute(user, server string, t Target) *route {
	ctx, cancel := context.WithCancel(context.Background())
	return &route{user: user, server: server, t: t, ctx: ctx, cancel: cancel}
}

func (rt *route) target() Target {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.t
}

func (rt *route) setTarget(t Target) {
	rt.mu.Lock()
	rt.t = t
	rt.mu.Unlock()
}

func (rt *route) sameAddr(t Target) bool {
	cur := rt.target()
	return cur.Host == t.Host && cur.Port == t.Port
}

// transport returns the route's transport, made on first use with the
// proxy's settings.
func (rt *route) transport(c *Config, opened *atomic.Uint64) *http.Transport {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.tr == nil {
		rt.tr = &http.Transport{
			// Never an HTTP proxy from the environment: the tunnel is
			// the only way to the node.
			Proxy:       nil,
			DialContext: rt.dial(c.DialTimeout, opened),
			// The browser's Accept-Encoding is passed on as it is;
			// the transport must not add gzip and decode it itself.
			DisableCompression:    true,
			MaxIdleConns:          c.MaxIdleConnsPerRoute,
			MaxIdleConnsPerHost:   c.MaxIdleConnsPerRoute,
			IdleConnTimeout:       c.IdleConnTimeout,
			ExpectContinueTimeout: time.Second,
		}
	}
	return rt.tr
}

func (rt *route) dial(timeout time.Duration, opened *atomic.Uint64) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if err := rt.ctx.Err(); err != nil {
			return nil, fmt.Errorf("dial %s for %s: route removed", addr, routeName(rt.user, rt.server))
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		// addr is Host:Port as Rewrite set it; dialling with the
		// current target's function lets Set swap a reconnected pool in.
		c, err := rt.target().Dial(ctx, network, addr)
		if err != nil {
			return nil, fmt.Errorf("dial %s for %s: %w", addr, routeName(rt.user, rt.server), err)
		}
		opened.Add(1)
		return c, nil
	}
}

// close ends every request bound to the route and drops pooled
// connections. Its dial function refuses from now on, so nothing new is
// pooled; a connection dialled just before may still land in the pool,
// which IdleConnTimeout empties.
func (rt *route) close() {
	rt.cancel()
	rt.closeBackends()
	rt.mu.Lock()
	tr := rt.tr
	rt.mu.Unlock()
	if tr != nil {
		tr.CloseIdleConnections()
	}
}

func (rt *route) lastActivity() time.Time {
	n := rt.active.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// touch records traffic at now and reports it through report at most once
// per every.
func (rt *route) touch(now time.Time, every time.Duration, report func(user, server string, t time.Time)) {
	n := now.UnixNano()
	for {
		old := rt.active.Load()
		if n <= old || rt.active.CompareAndSwap(old, n) {
			break
		}
	}
	if report == nil {
		return
	}
	last := rt.reported.Load()
	if last != 0 && n-last < int64(every) {
		return
	}
	// Of goroutines racing here, one reports.
	if !rt.reported.CompareAndSwap(last, n) {
		return
	}
	report(rt.user, rt.server, now)
}

// routeName is the route's URL prefix, the name users know it by.
func routeName(user, server string) string {
	if server == "" {
		return "/user/" + user + "/"
	}
	return "/user/" + user + "/" + server + "/"
}
