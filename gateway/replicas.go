package gateway

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Replicas is the group of hub replicas sharing one database
// (store.Replica on PostgreSQL). Any replica serves any request from the
// database; each cluster's polling and each cron job is led by one replica
// at a time, chosen by the database, and a replica that dies or loses its
// database connection leads nothing. A nil Replicas is a hub alone
// (SQLite), which leads everything.
type Replicas interface {
	// ID names this replica.
	ID() string
	// Lead reports whether this replica leads name, taking the lead if
	// no live replica has it. It asks the database.
	Lead(ctx context.Context, name string) bool
	// Leads is Lead's last answer for name, from memory.
	Leads(name string) bool
	// Leading names what this replica leads.
	Leading() []string
	// Notify has the other replicas' hubs Hear topic and payload.
	Notify(ctx context.Context, topic, payload string) error
}

// What replicas tell each other (Hub.Hear).
const (
	// topicServer: the server with this id changed (its state, address,
	// reason, estimate); progress streams and routes follow it.
	topicServer = "server"
	// topicKick: poll this cluster soon (a spawn or stop on a replica
	// that does not poll it).
	topicKick = "kick"
)

// lockPoll and lockCron name the leadership of a cluster's poller and of
// a cron job.
func lockPoll(cluster string) string { return "poll:" + cluster }
func lockCron(job string) string     { return "cron:" + job }

// lead reports whether this hub does the work of name now.
func (h *Hub) lead(ctx context.Context, name string) bool {
	return h.replicas == nil || h.replicas.Lead(ctx, name)
}

// leads is lead from memory, for loops that must stop once leadership is
// lost (readiness checks).
func (h *Hub) leads(name string) bool {
	return h.replicas == nil || h.replicas.Leads(name)
}

// tell sends a message to the other replicas. A message lost (the
// database is down) is made up for by their listener's Resync when it
// reconnects, and by their next reading of the database.
func (h *Hub) tell(topic, payload string) {
	if h.replicas == nil {
		return
	}
	if err := h.replicas.Notify(h.ctx, topic, payload); err != nil && h.ctx.Err() == nil {
		h.log.Warn("tell other replicas failed", "topic", topic, "err", err)
	}
}

// Hear handles what another replica told (cmd wires it to the store's
// listener). Payloads come from hubs of this site through the database;
// they are still parsed strictly.
func (h *Hub) Hear(topic, payload string) {
	switch topic {
	case topicServer:
		id, err := strconv.ParseInt(payload, 10, 64)
		if err != nil {
			return
		}
		srv, err := h.servers.GetServerByID(h.ctx, id)
		if errors.Is(err, ErrNotFound) {
			return
		} else if err != nil {
			h.log.Warn("reload a server another replica changed", "server_id", id, "err", err)
			return
		}
		h.follow(srv)
	case topicKick:
		if p := h.pollers[payload]; p != nil && h.leads(lockPoll(payload)) {
			p.kick()
		}
	}
}

// follow brings what this replica holds of srv in line with the database:
// a server no longer ready loses its route here (it is loaded again on
// first use when ready), and its watchers see its progress.
func (h *Hub) follow(srv *Server) {
	host, port, ok := h.routes.Route(srv.User, srv.Name)
	if ok && (srv.State != StateReady || host != srv.Host || port != srv.Port) {
		h.routes.DeleteRoute(srv.User, srv.Name)
		ok = false
	}
	if !ok && srv.Name != "" && srv.State == StateReady {
		// A named server's path is the default server's until it has a
		// route here (HasRoute): route it now, not on first use.
		h.routeReady(srv)
	}
	key := serverKey(srv.User, srv.Name)
	if h.broker.watched(key) {
		h.broker.publish(key, h.progressOf(srv))
	} else {
		h.broker.forget(key) // read again when someone watches
	}
}

// Resync checks every route and progress stream of this replica against
// the database, after its listener reconnected: what the other replicas
// said meanwhile is lost.
func (h *Hub) Resync() {
	ctx, cancel := context.WithTimeout(h.ctx, time.Minute)
	defer cancel()
	keys := h.broker.keys()
	for _, r := range h.routes.Routed() {
		keys = append(keys, serverKey(r[0], r[1]))
	}
	slices.Sort(keys)
	for _, key := range slices.Compact(keys) {
		user, name, _ := strings.Cut(key, "/")
		srv, err := h.servers.GetServer(ctx, user, name)
		switch {
		case errors.Is(err, ErrNotFound):
			h.routes.DeleteRoute(user, name)
			h.broker.forget(key)
		case err != nil:
			// Unsure: drop what could be stale; both are read again on use.
			h.routes.DeleteRoute(user, name)
			h.broker.forget(key)
		default:
			h.follow(srv)
		}
	}
	// Named servers made ready meanwhile on another replica's watch.
	ready, err := h.servers.ListServers(ctx, ServerFilter{States: []ServerState{StateReady}})
	if err != nil {
		h.log.Warn("list ready servers after the replica listener reconnected", "err", err)
	}
	for _, srv := range ready {
		if _, _, ok := h.routes.Route(srv.User, srv.Name); !ok && srv.Name != "" {
			h.routeReady(srv)
		}
	}
	h.log.Info("resynced with the database after the replica listener reconnected", "checked", len(keys))
}

// loadRoute gives a ready server this replica has not routed yet its
// route, from the database: any replica serves any notebook.
func (h *Hub) loadRoute(ctx context.Context, user, server string) {
	srv, err := h.servers.GetServer(ctx, user, server)
	if err != nil {
		return
	}
	h.routeReady(srv)
}

// routeReady routes srv if it is ready at an address its node may have.
func (h *Hub) routeReady(srv *Server) {
	if srv.State != StateReady || srv.Port == 0 {
		return
	}
	c, ok := h.clusters[srv.Cluster]
	if !ok {
		return
	}
	if _, err := jobTarget(srv.Node, srv.Host, srv.Port); err != nil {
		h.log.Warn("refused a recorded address", "user", srv.User, "job", srv.JobID, "err", err)
		return
	}
	h.route(c, srv)
}

// ReplicaStatus is what /hub/health says of this replica.
type ReplicaStatus struct {
	ID string `json:"id"`
	// Clusters are the clusters this replica polls; Cron the periodic
	// jobs it runs.
	Clusters []string `json:"clusters"`
	Cron     []string `json:"cron"`
	// Polled is when this replica last polled each cluster it leads.
	Polled map[string]time.Time `json:"polled,omitempty"`
}

// Replica says what this replica leads, from memory.
func (h *Hub) Replica() ReplicaStatus {
	st := ReplicaStatus{ID: "single", Clusters: []string{}, Cron: []string{}, Polled: map[string]time.Time{}}
	var led []string
	if h.replicas != nil {
		st.ID = h.replicas.ID()
		led = h.replicas.Leading()
	} else {
		for _, name := range h.order {
			led = append(led, lockPoll(name))
		}
		for _, j := range h.cronJobs() {
			led = append(led, lockCron(j))
		}
	}
	for _, l := range led {
		if c, ok := strings.CutPrefix(l, "poll:"); ok {
			st.Clusters = append(st.Clusters, c)
			if p := h.pollers[c]; p != nil {
				if t := p.lastPoll(); !t.IsZero() {
					st.Polled[c] = t
				}
			}
		} else if j, ok := strings.CutPrefix(l, "cron:"); ok {
			st.Cron = append(st.Cron, j)
		}
	}
	return st
}
