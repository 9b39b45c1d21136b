package gateway

import (
	"context"
	"net"
	"net/http"
)

// Router is the proxy's route table as the hub drives it: a ready server
// gets a route to its app through the cluster's tunnel, a stopped one
// loses it, and an authorized request is handed over.
type Router interface {
	// SetRoute points user's server at host:port, reached with dial. Setting
	// the same address again keeps the route's connections.
	SetRoute(user, server, host string, port int, dial func(ctx context.Context, network, addr string) (net.Conn, error)) error
	DeleteRoute(user, server string)
	// Route is where user's server is routed, if it is. The proxy sends
	// /user/<name>/<server>/… to a named server only while it has one.
	Route(user, server string) (host string, port int, ok bool)
	// Routed lists the routes as user, server pairs.
	Routed() [][2]string
	ServeRoute(w http.ResponseWriter, r *http.Request, user, server string)
}
