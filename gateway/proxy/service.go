package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// ServiceHandler forwards requests for a JupyterHub service
// (/services/<name>/…) to target, the service's http(s)://host:port, the
// way requests go to users' servers: the full path and the raw query as
// the browser sent them, the browser's Host, WebSockets, streamed
// responses, and never the hub's own cookies. The service authenticates
// users itself (through the hub's OAuth); the caller authorizes nothing.
// A service that does not answer gets the browser a 503 page.
func (p *Proxy) ServiceHandler(name string, target *url.URL) http.Handler {
	dialer := &net.Dialer{Timeout: p.cfg.DialTimeout, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:               nil, // a service is local to the hub: no HTTP proxy from the environment
		DialContext:         dialer.DialContext,
		MaxIdleConnsPerHost: p.cfg.MaxIdleConnsPerRoute,
		IdleConnTimeout:     p.cfg.IdleConnTimeout,
		ForceAttemptHTTP2:   false,
	}
	log := p.cfg.Logger.With("service", name)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = target.Scheme
			pr.Out.URL.Host = target.Host
			pr.Out.URL.RawQuery = pr.In.URL.RawQuery
			pr.Out.Host = pr.In.Host
			p.forwardHeaders(pr)
		},
		// A service is the site's, not a user's, but it is on the hub's
		// origin as well: it too stays within its path (app.go).
		ModifyResponse: func(resp *http.Response) error {
			p.keepHubScope(resp.Header)
			return nil
		},
		Transport:     transport,
		FlushInterval: flushInterval, // as for servers (proxy.go)
		BufferPool:    bufferPool{},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(r.Context().Err(), context.Canceled) {
				log.Debug("proxy: client gone", "path", r.URL.Path, "err", err)
				return
			}
			log.Warn("proxy: service not responding", "method", r.Method, "path", r.URL.Path, "err", err)
			writeMessage(w, r, http.StatusServiceUnavailable, "The service "+name+" is not responding")
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// As for servers: uploads and WebSockets outlive the hub's page
		// timeouts.
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
		rp.ServeHTTP(w, r)
	})
}
