package gateway

import (
	"context"
	"errors"
	"net/http"
	"time"

	"hpcgate/gateway/config"
)

// ServerInfo is a server as pages and APIs show it.
type ServerInfo struct {
	User, Name       string
	Cluster, Profile string
	State            ServerState
	JobID, JobName   string
	Node             string
	// Host and Port are where the app listens on the node, once known;
	// the proxy reaches them through the cluster's login node.
	Host           string
	Port           int
	Reason         string // the scheduler's reason while queued; the failure otherwise
	Resources      config.Resources
	Submitted      time.Time
	Started        time.Time // the job started running
	Ready          time.Time
	Stopped        time.Time
	LastActivity   time.Time
	EstimatedStart time.Time
	URL            string // /user/<name>/ (with base URL)
	ProgressURL    string
}

// Active reports whether the server holds or waits for a job.
func (s *ServerInfo) Active() bool { return s.State.Active() }

// Pending is JupyterHub's server model "pending" field (ServerState.Pending).
func (s *ServerInfo) Pending() string { return s.State.Pending() }

// WalltimeLeft is the time until the scheduler ends the running job.
func (s *ServerInfo) WalltimeLeft(now time.Time) time.Duration {
	if s.Started.IsZero() || s.Resources.Walltime == 0 {
		return 0
	}
	left := s.Started.Add(s.Resources.Walltime).Sub(now)
	if left < 0 {
		return 0
	}
	return left
}

// Server returns a user's server as pages show it.
func (h *Hub) Server(ctx context.Context, user, server string) (*ServerInfo, error) {
	srv, err := h.servers.GetServer(ctx, user, server)
	if errors.Is(err, ErrNotFound) && server != "" {
		return nil, Errorf(ENOTFOUND, "%s has no server named '%s'", user, server)
	} else if errors.Is(err, ErrNotFound) {
		return nil, Errorf(ENOTFOUND, "%s has no server", user)
	} else if err != nil {
		return nil, err
	}
	return h.info(srv), nil
}

// Servers returns every server the hub knows, for admins.
func (h *Hub) Servers(ctx context.Context) ([]*ServerInfo, error) {
	list, err := h.servers.ListServers(ctx, ServerFilter{})
	if err != nil {
		return nil, err
	}
	out := make([]*ServerInfo, len(list))
	for i, s := range list {
		out[i] = h.info(s)
	}
	return out, nil
}

// ServersOf returns the servers of users (a page of the user list) in
// states (all states if none), in one query.
func (h *Hub) ServersOf(ctx context.Context, users []string, states ...ServerState) ([]*ServerInfo, error) {
	list, err := h.servers.ListServers(ctx, ServerFilter{Users: users, States: states})
	if err != nil {
		return nil, err
	}
	out := make([]*ServerInfo, len(list))
	for i, s := range list {
		out[i] = h.info(s)
	}
	return out, nil
}

// RecordActivity notes that the user's server was used at t (from the
// proxy, or the single-user server's activity reports).
func (h *Hub) RecordActivity(ctx context.Context, user, server string, t time.Time) error {
	if t.After(h.now().Add(time.Minute)) {
		t = h.now()
	}
	if _, err := h.servers.SetActivity(ctx, user, server, t); err != nil {
		if errors.Is(err, ErrNotFound) {
			return h.users.TouchUserActivity(ctx, user, t)
		}
		return err
	}
	return nil
}

// ServeProxy proxies an already authorized request to the user's server.
func (h *Hub) ServeProxy(w http.ResponseWriter, r *http.Request, user, server string) {
	if _, _, ok := h.routes.Route(user, server); !ok {
		// Ready on another replica's watch, or before this one started.
		h.loadRoute(r.Context(), user, server)
	}
	h.routes.ServeRoute(w, r, user, server)
}

// HasRoute reports whether the proxy has a route to user's server, in
// memory: the proxy asks on every request under /user/<name>/ whose first
// segment could name a server, so it must not read the database. Other
// replicas' named servers are routed here when they become ready (follow)
// and after the listener reconnects (Resync).
func (h *Hub) HasRoute(user, server string) bool {
	_, _, ok := h.routes.Route(user, server)
	return ok
}

// info converts a stored server to what pages and APIs show.
func (h *Hub) info(s *Server) *ServerInfo {
	prefix := UserURL(h.cfg.Hub.BaseURL, s.User, s.Name)
	return &ServerInfo{
		User: s.User, Name: s.Name, Cluster: s.Cluster, Profile: s.Profile, State: s.State,
		JobID: s.JobID, JobName: s.JobName, Node: s.Node, Host: s.Host, Port: s.Port, Reason: s.Reason, Resources: s.Resources,
		Submitted: s.Submitted,
		Started:   s.Started, Ready: s.Ready, Stopped: s.Stopped, LastActivity: s.LastActivity,
		EstimatedStart: s.EstimatedStart, URL: prefix,
		ProgressURL: ProgressURL(h.cfg.Hub.BaseURL, s.User, s.Name),
	}
}
