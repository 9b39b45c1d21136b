package proxy

import (
	"context"
	"net"
)

// SetRoute and DeleteRoute are the route table as the hub drives it
// (gateway.Router; the guard is in cmd, so this package imports no
// gateway type).

// SetRoute points user's server at host:port, reached with dial (see Routes.Set).
func (p *Proxy) SetRoute(user, server, host string, port int, dial func(ctx context.Context, network, addr string) (net.Conn, error)) error {
	return p.routes.Set(user, server, Target{Host: host, Port: port, Dial: dial})
}

// DeleteRoute removes user's server's route, closing its connections.
func (p *Proxy) DeleteRoute(user, server string) { p.routes.Delete(user, server) }

// Route is where user's server is routed, if it is.
func (p *Proxy) Route(user, server string) (host string, port int, ok bool) {
	t, ok := p.routes.Get(user, server)
	return t.Host, t.Port, ok
}

// Routed lists the routes as user, server pairs.
func (p *Proxy) Routed() [][2]string { return p.routes.keys() }
