// Package proxy carries browser traffic for /user/<name>/… (plain HTTP,
// streamed responses, event streams and WebSockets) to the user's Jupyter
// server on a compute node, through a tunnel it is given as a dial
// function. Plain requests go through its own HTTP/1.1 forwarding on a
// pool of connections per route (forward.go, backends.go); upgrades and
// large or unsized uploads through net/http/httputil.ReverseProxy with one
// http.Transport per route. Both share the Rewrite, the error page, and
// activity and traffic accounting for the hub.
//
// It decides nothing about who may reach which server: the web layer
// authorizes a request and then hands it to ServeRoute. The hub drives its
// route table as a gateway.Router (SetRoute, DeleteRoute; router.go). It
// imports nothing of hpcgate, so the Router's method signatures use plain
// types and the guard is in cmd; cmd passes the SSH pool's DialContext
// with each route.
package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults, applied by New to fields left zero.
const (
	DefaultMaxIdleConnsPerRoute = 256
	DefaultIdleConnTimeout      = 90 * time.Second
	DefaultDialTimeout          = 15 * time.Second
	DefaultActivityInterval     = 30 * time.Second
)

// Config holds the proxy's settings and the hooks through which the hub
// learns what happened. Hooks are called on the request's goroutine (or,
// for WebSocket traffic, the goroutine copying it) and must return quickly.
type Config struct {
	// Routes is the route table. Default: a new, empty one.
	Routes *Routes

	// MaxIdleConnsPerRoute bounds the keep-alive connections kept open
	// through the tunnel to one server. A connection is idle only after
	// carrying a request, so the pool holds at most the route's peak
	// concurrency and IdleConnTimeout shrinks it after the peak; the bound
	// is only a backstop. A smaller pool than the concurrency closes a
	// tunnel channel after every request and opens a new one for the
	// next (an SSH channel open costs the login node's sshd and the app
	// far more than the request). Default: 256.
	MaxIdleConnsPerRoute int
	// IdleConnTimeout closes a pooled connection unused for this long.
	// Default: 90s.
	IdleConnTimeout time.Duration
	// DialTimeout bounds opening one connection to a server (through a
	// hung SSH connection a dial could otherwise wait as long as the
	// browser does). Default: 15s.
	DialTimeout time.Duration

	// TrustedProxies are the addresses of proxies in front of the hub,
	// such as a TLS terminator: a request that comes from one keeps the
	// X-Forwarded-For, -Proto and -Host it carries (the proxy's address
	// appended to X-Forwarded-For). From any other address they are
	// replaced by the hub's own view, or a client could claim any address
	// or https. Default: none.
	TrustedProxies []netip.Prefix

	// HubCookie names the hub's own cookies, which are removed from every
	// request before it reaches a server: the server runs its user's
	// code, which must never see the hub's session (or anyone else's).
	// The server's own cookies pass untouched. Default: DefaultHubCookie.
	HubCookie func(name string) bool

	// OnActivity is told that traffic went through a route: at the start
	// and end of each request and on WebSocket data in either direction,
	// at most once per ActivityInterval per route. Optional.
	OnActivity func(user, server string, t time.Time)
	// ActivityInterval rate-limits OnActivity. Default: 30s.
	ActivityInterval time.Duration

	// OnError is told that a server did not answer (the dial failed,
	// the connection broke before a response), so the hub can check the
	// server's health. The browser gets a 503 page. Optional.
	OnError func(user, server string, err error)
	// OnMissing answers a request for a server that has no route, for
	// instance with a redirect to /hub/user/<name>/ or the spawn page.
	// Default: a 404 page.
	OnMissing func(w http.ResponseWriter, r *http.Request, user, server string)

	// Logger gets one line per proxy error. Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock for activity. Default: time.Now.
	Now func() time.Time
}

// Proxy forwards authorized requests to users' servers.
type Proxy struct {
	cfg    Config
	routes *Routes
	rp     *httputil.ReverseProxy
	stats  counters
}

// New returns a proxy with cfg's zero fields set to their defaults.
func New(cfg Config) *Proxy {
	if cfg.Routes == nil {
		cfg.Routes = &Routes{}
	}
	if cfg.MaxIdleConnsPerRoute <= 0 {
		cfg.MaxIdleConnsPerRoute = DefaultMaxIdleConnsPerRoute
	}
	if cfg.IdleConnTimeout <= 0 {
		cfg.IdleConnTimeout = DefaultIdleConnTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.ActivityInterval <= 0 {
		cfg.ActivityInterval = DefaultActivityInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HubCookie == nil {
		cfg.HubCookie = DefaultHubCookie
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Proxy{cfg: cfg, routes: cfg.Routes}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   p.rewrite,
		Transport: routeTransport{p},
		// ReverseProxy flushes every write of a streaming response
		// itself (text/event-stream, or no Content-Length: progress
		// streams, chunked downloads). A response of known length is
		// flushed at most every flushInterval while it is being written,
		// so a slow one still arrives as produced, and a small one goes
		// out in one write when it ends. Flushing every write (-1) cost
		// a syscall and a chunk-writer pass per write of every response:
		// a fifth of the hub's CPU in a profile of small JSON replies.
		FlushInterval: flushInterval,
		ErrorHandler:  p.serveError,
		// Apps authenticated by the proxy's secret (app.go).
		ModifyResponse: p.modifyResponse,
		BufferPool:     bufferPool{},
		ErrorLog:       slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return p
}

// flushInterval bounds how long part of a response of known length may
// wait in the hub's buffers.
const flushInterval = 20 * time.Millisecond

// Routes returns the proxy's route table.
func (p *Proxy) Routes() *Routes { return p.routes }

// Close deletes every route, ending all traffic through the proxy.
func (p *Proxy) Close() { p.routes.Clear() }

// Handler returns a handler that serves every request with user's server.
func (p *Proxy) Handler(user, server string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.ServeRoute(w, r, user, server)
	})
}

// ServeRoute forwards r, which the caller has authorized, to user's
// server. The path and query go as the browser sent them: the server's
// base URL is the full /user/<name>/ prefix. Without a route, OnMissing
// answers.
func (p *Proxy) ServeRoute(w http.ResponseWriter, r *http.Request, user, server string) {
	rec := &recorder{ResponseWriter: w, p: p}
	defer rec.count()

	rt := p.routes.lookup(user, server)
	if rt == nil {
		p.stats.missing.Add(1)
		if p.cfg.OnMissing != nil {
			p.cfg.OnMissing(rec, r, user, server)
		} else {
			writeMessage(rec, r, http.StatusNotFound, "There is no server at "+routeName(user, server))
		}
		return
	}
	rec.rt = rt
	t := rt.target()
	if t.App != nil && t.App.serveOpen(rec, r) {
		return
	}

	p.touch(rt)
	defer p.touch(rt)

	// Uploads, downloads and WebSockets may last for hours; the hub
	// server's ReadTimeout (the request body) and WriteTimeout (the
	// response, and a hijacked connection keeps it) are meant for its
	// pages. Not every ResponseWriter supports this.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})

	pr := &proxied{route: rt, target: t, client: r.Context()}
	if canForward(r) {
		p.forward(rec, r, pr)
		return
	}
	// The request ends when the client goes or the route is removed.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(rt.ctx, cancel)
	defer stop()
	p.rp.ServeHTTP(rec, r.WithContext(context.WithValue(ctx, requestKey{}, pr)))
}

func (p *Proxy) touch(rt *route) {
	rt.touch(p.cfg.Now(), p.cfg.ActivityInterval, p.cfg.OnActivity)
}

// proxied is what ServeRoute tells Rewrite, the transport and the error
// handler about a request.
type proxied struct {
	route  *route
	target Target          // the route's target when the request came: one for the whole exchange
	client context.Context // the request's own context, before the route's was joined
}

type requestKey struct{}

func fromContext(ctx context.Context) *proxied {
	pr, _ := ctx.Value(requestKey{}).(*proxied)
	return pr
}

func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	p.rewriteTo(pr, fromContext(pr.In.Context()).target)
}

// rewriteTo addresses pr.Out to t, with its forwarding headers and the
// app's secret.
func (p *Proxy) rewriteTo(pr *httputil.ProxyRequest, t Target) {
	// SetURL would join paths; the server wants the path unchanged.
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = t.Addr()
	// ReverseProxy re-encodes a query it cannot parse (a ';', a bad
	// escape). This proxy makes no decision on the query and the server
	// is the authority on its own URLs, so it gets what the browser sent.
	pr.Out.URL.RawQuery = pr.In.URL.RawQuery
	// Notebook refuses WebSockets whose Origin is not the Host, and builds
	// its redirects from it: keep the browser's. Out is a clone of In so
	// it already is; said here because SetURL would clear it.
	pr.Out.Host = pr.In.Host
	p.forwardHeaders(pr)
	// An app with its own secret gets it here, after the owner check and
	// after the hub's cookies are gone.
	if t.App != nil {
		t.App.rewrite(pr.Out)
	}
}

// forwardHeaders drops the hub's cookies from pr and sets the
// X-Forwarded-* headers, keeping the client's own only when the site says
// a proxy it trusts sets them.
func (p *Proxy) forwardHeaders(pr *httputil.ProxyRequest) {
	dropCookies(pr.Out.Header, p.cfg.HubCookie)
	trusted := p.fromTrustedProxy(pr.In.RemoteAddr)
	if trusted {
		pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
	}
	pr.SetXForwarded()
	if trusted {
		for _, h := range []string{"X-Forwarded-Proto", "X-Forwarded-Host"} {
			if v := pr.In.Header.Get(h); v != "" {
				pr.Out.Header.Set(h, v)
			}
		}
	}
}

// fromTrustedProxy reports whether remoteAddr (the request's immediate
// peer) is one of the site's trusted proxies.
func (p *Proxy) fromTrustedProxy(remoteAddr string) bool {
	if len(p.cfg.TrustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, pf := range p.cfg.TrustedProxies {
		if pf.Contains(a) {
			return true
		}
	}
	return false
}

// DefaultHubCookie matches the cookies hpcgate's web layer sets, all
// named hpcgate-*: the session, the /user/ gate's cookie, the login nonce,
// the admin page's flash message.
func DefaultHubCookie(name string) bool { return strings.HasPrefix(name, "hpcgate-") }

// dropCookies removes the cookies drop names from h's Cookie lines and
// leaves the others as the browser wrote them (not re-encoded: a server
// may read values net/http would refuse).
func dropCookies(h http.Header, drop func(string) bool) {
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	var kept []string
	for _, line := range lines {
		for _, c := range strings.Split(line, ";") {
			c = strings.TrimSpace(c)
			if c == "" {
				continue
			}
			name, _, _ := strings.Cut(c, "=")
			if drop(strings.TrimSpace(name)) {
				continue
			}
			kept = append(kept, c)
		}
	}
	h.Del("Cookie")
	if len(kept) > 0 {
		// One line, as HTTP/1.1 requires and HTTP/2 allows.
		h.Set("Cookie", strings.Join(kept, "; "))
	}
}

// routeTransport sends each request with its route's own transport.
type routeTransport struct{ p *Proxy }

func (t routeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	pr := fromContext(r.Context())
	if pr == nil {
		return nil, errors.New("proxy: request without a route")
	}
	return pr.route.transport(&t.p.cfg, &t.p.stats.opened).RoundTrip(r)
}

// bufferPool reuses ReverseProxy's copy buffers (32 KiB each, otherwise one
// per request).
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { return new([32 << 10]byte) }}

func (bufferPool) Get() []byte { return buffers.Get().(*[32 << 10]byte)[:] }
func (bufferPool) Put(b []byte) {
	if len(b) == 32<<10 {
		buffers.Put((*[32 << 10]byte)(b))
	}
}

// Stats is a snapshot of the proxy's counters, for the hub to export.
type Stats struct {
	// Responses by status class (1xx counts WebSocket upgrades), for
	// requests that had a route or were answered by OnMissing.
	Status1xx, Status2xx, Status3xx, Status4xx, Status5xx uint64
	// Unreachable counts requests a server did not answer (OnError calls).
	Unreachable uint64
	// Missing counts requests for servers without a route.
	Missing uint64
	// ClientGone counts requests whose client went away before the
	// server answered: neither the server's failure nor the hub's, so
	// they are in no status class.
	ClientGone uint64
	// ChannelsOpened counts connections opened to servers, each one a
	// channel through the SSH tunnel (or a TCP connection in direct
	// mode). Under steady load it stays flat: connections are reused.
	ChannelsOpened uint64
	// WebSocketsOpen is the number of upgraded connections open now;
	// WebSocketsTotal counts all since the start.
	WebSocketsOpen  int64
	WebSocketsTotal uint64
	// WebSocketBytesIn and Out count bytes from and to browsers on
	// upgraded connections.
	WebSocketBytesIn, WebSocketBytesOut uint64
	// Routes is the number of routes.
	Routes int
}

type counters struct {
	status               [6]atomic.Uint64 // by status/100
	unreachable, missing atomic.Uint64
	clientGone, opened   atomic.Uint64
	wsOpen               atomic.Int64
	wsTotal, wsIn, wsOut atomic.Uint64
}

// Stats returns the current counters.
func (p *Proxy) Stats() Stats {
	c := &p.stats
	return Stats{
		Status1xx:         c.status[1].Load(),
		Status2xx:         c.status[2].Load(),
		Status3xx:         c.status[3].Load(),
		Status4xx:         c.status[4].Load(),
		Status5xx:         c.status[5].Load(),
		Unreachable:       c.unreachable.Load(),
		Missing:           c.missing.Load(),
		ClientGone:        c.clientGone.Load(),
		ChannelsOpened:    c.opened.Load(),
		WebSocketsOpen:    c.wsOpen.Load(),
		WebSocketsTotal:   c.wsTotal.Load(),
		WebSocketBytesIn:  c.wsIn.Load(),
		WebSocketBytesOut: c.wsOut.Load(),
		Routes:            p.routes.Len(),
	}
}
