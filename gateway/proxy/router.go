package proxy

// The hub drives the route table through gateway.Router, whose SetRoute
// takes a gateway type; this package imports nothing of hpcgate, so cmd
// adapts it (Routes.Set with a Target) and holds the guard.

// DeleteRoute removes user's server's route, closing its connections.
func (p *Proxy) DeleteRoute(user, server string) { p.routes.Delete(user, server) }

// Route is where user's server is routed, if it is.
func (p *Proxy) Route(user, server string) (host string, port int, ok bool) {
	t, ok := p.routes.Get(user, server)
	return t.Host, t.Port, ok
}

// Routed lists the routes as user, server pairs.
func (p *Proxy) Routed() [][2]string { return p.routes.keys() }
