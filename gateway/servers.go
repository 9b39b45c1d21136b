package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"hpcgate/batch"
	"hpcgate/gateway/config"
	"hpcgate/gateway/store"
)

// Start re-adopts every job the database knows before the hub serves:
// ready servers get their routes back (their notebooks answer again with no
// new spawn), starting ones resume their readiness checks, a spawn
// interrupted between sbatch and the database write is found by its job
// name, and one poll per cluster brings every state up to date. Then the
// pollers start.
func (h *Hub) Start(ctx context.Context) error {
	servers, err := h.store.ListServers(ctx, store.ServerFilter{States: store.ActiveStates})
	if err != nil {
		return fmt.Errorf("load servers: %w", err)
	}
	for _, srv := range servers {
		c, ok := h.clusters[srv.Cluster]
		if !ok {
			h.log.Warn("server on a cluster no longer configured; leaving it", "user", srv.User, "cluster", srv.Cluster, "job", srv.JobID)
			continue
		}
		switch {
		case srv.State == store.StateReady && srv.Port != 0:
			// Recorded before addresses were checked against the node?
			if _, err := jobTarget(srv.Node, srv.Host, srv.Port); err != nil {
				h.log.Warn("refused a recorded address", "user", srv.User, "job", srv.JobID, "err", err)
				h.cancelJob(ctx, c, srv)
				h.finish(ctx, srv, StateFailed, "Refused the job's address: "+err.Error()+".", "bad_address")
				continue
			}
			h.route(c, srv)
		case srv.State == store.StateSubmitting && srv.JobID == "":
			h.adopt(ctx, c, srv)
		}
		h.publish(srv)
	}
	for _, name := range h.order {
		c := h.clusters[name]
		p := &poller{h: h, c: c, kickCh: make(chan struct{}, 1)}
		h.pollers[name] = p
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		p.poll(pctx)
		cancel()
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			p.run(h.ctx)
		}()
	}
	h.log.Info("servers re-adopted", "active", len(servers), "clusters", len(h.order))
	return nil
}

// adopt finds the job of a spawn the hub lost track of (it died between
// sbatch and recording the id) by the job's unique name.
func (h *Hub) adopt(ctx context.Context, c *Cluster, srv *store.Server) {
	if l, ok := c.Scheduler.(batch.Lister); ok {
		jobs, err := l.ListByName(ctx, srv.User, srv.JobName)
		if err != nil {
			h.log.Warn("adopt: list jobs failed; will retry at next start", "user", srv.User, "err", err)
			return
		}
		for _, j := range jobs {
			if j.Name == srv.JobName {
				if err := h.store.SetJobID(ctx, srv.ID, j.ID); err == nil {
					srv.JobID = j.ID
					h.store.SetState(ctx, srv.ID, []store.State{store.StateSubmitting}, store.StateQueued, "")
					h.event(ctx, srv, "adopted", "Job "+j.ID+" found by name after a hub restart.")
				}
				return
			}
		}
	}
	if h.now().Sub(srv.Created) > 2*time.Minute {
		h.finish(ctx, srv, StateFailed, "The hub restarted while submitting the job and no job named "+srv.JobName+" was found; please start again.", "submit")
	}
}

// Server returns a user's server as pages show it.
func (h *Hub) Server(ctx context.Context, user, server string) (*ServerInfo, error) {
	srv, err := h.store.GetServer(ctx, user, server)
	if errors.Is(err, store.ErrNotFound) {
		return nil, Errorf(ENOTFOUND, "%s has no server", user)
	} else if err != nil {
		return nil, err
	}
	return h.info(srv), nil
}

// Servers returns every server the hub knows, for admins.
func (h *Hub) Servers(ctx context.Context) ([]*ServerInfo, error) {
	list, err := h.store.ListServers(ctx, store.ServerFilter{})
	if err != nil {
		return nil, err
	}
	out := make([]*ServerInfo, len(list))
	for i, s := range list {
		out[i] = h.info(s)
	}
	return out, nil
}

// Subscribe follows a server's progress; the first event is its current
// state. The returned function ends the subscription.
func (h *Hub) Subscribe(user, server string) (<-chan Progress, func()) {
	key := serverKey(user, server)
	if _, ok := h.broker.lastOf(key); !ok {
		if srv, err := h.store.GetServer(h.ctx, user, server); err == nil {
			h.publish(srv)
		}
	}
	return h.broker.subscribe(key)
}

// RecordActivity notes that the user's server was used at t (from the
// proxy, or the single-user server's activity reports).
func (h *Hub) RecordActivity(ctx context.Context, user, server string, t time.Time) error {
	if t.After(h.now().Add(time.Minute)) {
		t = h.now()
	}
	if _, err := h.store.SetActivity(ctx, user, server, t); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return h.store.TouchUserActivity(ctx, user, t)
		}
		return err
	}
	return nil
}

// ServeProxy proxies an already authorized request to the user's server.
func (h *Hub) ServeProxy(w http.ResponseWriter, r *http.Request, user, server string) {
	h.proxy.ServeRoute(w, r, user, server)
}

// publish tells the watchers of srv its current progress.
func (h *Hub) publish(srv *store.Server) {
	h.broker.publish(serverKey(srv.User, srv.Name), h.progressOf(srv))
}

// progressOf describes srv for the pending page and the event stream.
func (h *Hub) progressOf(srv *store.Server) Progress {
	now := h.now()
	p := Progress{Time: now, State: string(srv.State), JobID: srv.JobID, Node: srv.Node}
	info := h.info(srv)
	switch string(srv.State) {
	case StateSubmitting:
		p.Progress, p.Message = 10, "Submitting the job to "+srv.Cluster+"…"
	case StateQueued:
		p.Progress = 30
		p.Reason = srv.Reason
		if !srv.Submitted.IsZero() {
			p.QueuedSeconds = int64(now.Sub(srv.Submitted) / time.Second)
		}
		p.Message = fmt.Sprintf("Job %s is waiting in the queue (%s)", srv.JobID, orDefault(srv.Reason, "no reason given yet"))
		if !srv.EstimatedStart.IsZero() {
			t := srv.EstimatedStart
			p.EstimatedStart = &t
		}
	case StateStarting:
		p.Progress = 70
		p.QueuedSeconds = int64(srv.Started.Sub(srv.Submitted) / time.Second)
		if srv.Port == 0 {
			p.Message = fmt.Sprintf("Job %s is running on %s; starting the app…", srv.JobID, orDefault(srv.Node, "its node"))
		} else {
			p.Message = fmt.Sprintf("The app listens on %s:%d; waiting for it to answer…", srv.Host, srv.Port)
		}
	case StateReady:
		p.Progress, p.Ready, p.URL = 100, true, info.URL
		p.Message = "Server ready at " + info.URL
		p.WalltimeLeft = int64(info.WalltimeLeft(now) / time.Second)
	case StateStopping:
		p.Progress, p.Message = 90, "Stopping: cancelling job "+srv.JobID+"…"
	case StateStopped:
		p.Progress, p.Stopped, p.Reason = 100, true, srv.Reason
		p.Message = "Server stopped. " + srv.Reason
	case StateFailed:
		p.Progress, p.Failed, p.Reason = 100, true, srv.Reason
		p.Message = "Spawn failed: " + firstLine(srv.Reason)
		if i := strings.Index(srv.Reason, "\n\n"); i >= 0 {
			p.LogTail = strings.TrimSpace(srv.Reason[i:])
		}
	}
	return p
}

func firstLine(s string) string {
	if i := strings.Index(s, "\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// info converts a stored server to what pages and APIs show.
func (h *Hub) info(s *store.Server) *ServerInfo {
	prefix := userPrefix(h.cfg.Hub.BaseURL, s.User, s.Name)
	return &ServerInfo{
		User: s.User, Name: s.Name, Cluster: s.Cluster, Profile: s.Profile, State: string(s.State),
		JobID: s.JobID, JobName: s.JobName, Node: s.Node, Host: s.Host, Port: s.Port, Reason: s.Reason, Options: s.Options,
		Walltime: s.Walltime, Submitted: s.Submitted,
		Started: s.Started, Ready: s.Ready, Stopped: s.Stopped, LastActivity: s.LastActivity,
		EstimatedStart: s.EstimatedStart, URL: prefix,
		ProgressURL: strings.TrimSuffix(h.cfg.Hub.BaseURL, "/") + "/hub/api/users/" + s.User + "/server/progress",
	}
}

// optionsOf records the resolved resources with the server.
func optionsOf(r config.Resources) map[string]string {
	o := map[string]string{
		"cores":    strconv.Itoa(r.Cores),
		"gpus":     strconv.Itoa(r.GPUs),
		"walltime": r.Walltime.String(),
	}
	if r.MemoryMB > 0 {
		o["memory"] = strconv.Itoa(r.MemoryMB) + "M"
	}
	if r.Partition != "" {
		o["partition"] = r.Partition
	}
	if r.Account != "" {
		o["account"] = r.Account
	}
	return o
}

func describe(r config.Resources) string {
	parts := []string{fmt.Sprintf("%d core(s)", r.Cores)}
	if r.MemoryMB > 0 {
		parts = append(parts, fmt.Sprintf("%d MB", r.MemoryMB))
	}
	if r.GPUs > 0 {
		parts = append(parts, fmt.Sprintf("%d GPU(s)", r.GPUs))
	}
	parts = append(parts, roundDur(r.Walltime)+" walltime")
	if r.Partition != "" {
		parts = append(parts, "partition "+r.Partition)
	}
	if r.Account != "" {
		parts = append(parts, "account "+r.Account)
	}
	return strings.Join(parts, ", ")
}

func partitionOf(s *store.Server) string {
	if p := s.Options["partition"]; p != "" {
		return "partition " + p
	}
	return "the default partition"
}
