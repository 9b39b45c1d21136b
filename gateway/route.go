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
	// SetRoute points user's server at t. Setting the same address again
	// keeps the route's connections.
	SetRoute(user, server string, t RouteTarget) error
	DeleteRoute(user, server string)
	// Route is where user's server is routed, if it is. The proxy sends
	// /user/<name>/<server>/… to a named server only while it has one.
	Route(user, server string) (host string, port int, ok bool)
	// Routed lists the routes as user, server pairs.
	Routed() [][2]string
	ServeRoute(w http.ResponseWriter, r *http.Request, user, server string)
}

// RouteTarget is where a server's app listens and how the proxy talks to
// it.
type RouteTarget struct {
	Host string
	Port int
	// Dial opens a connection through the cluster's tunnel.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// App is set for an app that authenticates with the job's secret
	// (auth: token); nil for jupyterhub-singleuser, which gets requests
	// as the browser sent them.
	App *RouteApp
}

// RouteApp is what the proxy needs to present a token app's secret after
// its own owner check (see config.Present) and to place the app under
// its prefix.
type RouteApp struct {
	Secret string
	// One of: the header Header with the value HeaderValue (the secret
	// filled in), the cookie Cookie, the query parameter Query.
	Header, HeaderValue string
	Cookie              string
	Query               string
	// Prefix is /user/<name>/ (with the hub's base URL); Strip removes it
	// from the paths the app gets.
	Prefix string
	Strip  bool
	// Open is where a request for the bare prefix goes, under the prefix
	// (placeholders expanded); "" forwards it.
	Open string
}
