package gateway

import (
	"context"
	"fmt"
	"time"

	"hpcgate/batch"
)

// Start re-adopts every job the database knows before the hub serves:
// ready servers get their routes back (their notebooks answer again with no
// new spawn), starting ones resume their readiness checks, a spawn
// interrupted between sbatch and the database write is found by its job
// name, and one poll per cluster brings every state up to date. Then the
// pollers start. With replicas, the adoption and the polls are the work of
// the replica leading each cluster; the others only route.
func (h *Hub) Start(ctx context.Context) error {
	servers, err := h.servers.ListServers(ctx, ServerFilter{States: ActiveStates})
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
		case srv.State == StateReady && srv.Port != 0:
			// Recorded before addresses were checked against the node?
			if _, err := jobTarget(srv.Node, srv.Host, srv.Port); err != nil {
				h.log.Warn("refused a recorded address", "user", srv.User, "job", srv.JobID, "err", err)
				h.cancelJob(ctx, c, srv)
				h.finish(ctx, srv, StateFailed, "Refused the job's address: "+err.Error()+".", "bad_address")
				continue
			}
			h.route(c, srv)
		case srv.State == StateSubmitting && srv.JobID == "" && h.lead(ctx, lockPoll(srv.Cluster)):
			h.adopt(ctx, c, srv)
		}
		h.broker.publish(serverKey(srv.User, srv.Name), h.progressOf(srv))
	}
	for _, name := range h.order {
		p := h.pollers[name]
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
func (h *Hub) adopt(ctx context.Context, c *Cluster, srv *Server) {
	if l, ok := c.Scheduler.(batch.Lister); ok {
		jobs, err := l.ListByName(ctx, srv.User, srv.JobName)
		if err != nil {
			h.log.Warn("adopt: list jobs failed; will retry at next start", "user", srv.User, "err", err)
			return
		}
		for _, j := range jobs {
			if j.Name == srv.JobName {
				if err := h.servers.SetJobID(ctx, srv.ID, j.ID); err == nil {
					srv.JobID = j.ID
					h.transition(ctx, srv, StateQueued, "", StateSubmitting)
					h.event(ctx, srv, "adopted", "Job "+j.ID+" found by name after a hub restart.")
					h.refresh(ctx, srv.ID)
				}
				return
			}
		}
	}
	if h.now().Sub(srv.Created) > 2*time.Minute {
		h.finish(ctx, srv, StateFailed, "The hub restarted while submitting the job and no job named "+srv.JobName+" was found; please start again.", "submit")
	}
}
