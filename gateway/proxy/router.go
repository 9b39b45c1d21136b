package proxy

// The hub drives the route table through gateway.Router, whose SetRoute
// takes a gateway type; this package imports nothing of hpcgate, so cmd
// adapts it (Routes.Set with a Target) and holds the guard.

// DeleteRoute removes user's server's route, closing its connections.
func (p *Proxy) DeleteRoute(user, server string) { p.routes.Delete(user, server) }
