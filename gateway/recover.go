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
		case lostSubmission(srv) && h.lead(ctx, lockPoll(srv.Cluster)):
			// Nothing is in flight in a process that just started; a
			// submission under way on another replica is at worst
			// adopted twice with the same id.
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

// submitTimeout bounds one submission (sbatch or qsub over SSH).
const submitTimeout = 2 * time.Minute

// A submission under way on another replica cannot be seen from here: a
// spawn without a job id is taken for interrupted only adoptAfter past
// its creation (a submission takes seconds), and given up for lost only
// once any submission of it must have ended, so that a job still being
// submitted is never left running behind a failed server.
const (
	adoptAfter  = time.Minute
	giveUpAfter = submitTimeout + time.Minute
)

// lostSubmission reports whether srv waits for a job id that a submission
// may have lost: the process submitting it died between the scheduler
// accepting the job and the id's write, maybe after a stop was asked.
func lostSubmission(srv *Server) bool {
	return srv.JobID == "" && (srv.State == StateSubmitting || srv.State == StateStopping)
}

// adopt finds the job of a spawn whose submission was interrupted (its
// hub process, or replica, died between sbatch and recording the id) by
// the job's unique name: it is tracked from there, or cancelled if a stop
// was asked meanwhile. With no such job once giveUpAfter has passed, the
// server ends.
func (h *Hub) adopt(ctx context.Context, c *Cluster, srv *Server) {
	log := h.log.With("user", srv.User, "cluster", srv.Cluster, "job_name", srv.JobName)
	if l, ok := c.Scheduler.(batch.Lister); ok {
		jobs, err := l.ListByName(ctx, srv.User, srv.JobName)
		if err != nil {
			log.Warn("adopt: list jobs by name failed; will retry", "err", err)
			return
		}
		for _, j := range jobs {
			if j.Name != srv.JobName {
				continue
			}
			if err := h.servers.SetJobID(ctx, srv.ID, j.ID); err != nil {
				log.Warn("adopt: record job id failed; will retry", "job", j.ID, "err", err)
				return
			}
			srv.JobID = j.ID
			log.Info("adopted a job found by name", "job", j.ID, "state", srv.State)
			if srv.State == StateStopping {
				h.event(ctx, srv, "adopted", "Job "+j.ID+" found by name after its submission was interrupted; cancelling it, as asked.")
				h.cancelJob(ctx, c, srv)
				h.kick(c.Config.Name)
			} else {
				h.transition(ctx, srv, StateQueued, "", StateSubmitting)
				h.event(ctx, srv, "adopted", "Job "+j.ID+" found by name after its submission was interrupted.")
			}
			h.refresh(ctx, srv.ID)
			return
		}
	}
	if h.now().Sub(srv.Created) <= giveUpAfter {
		return
	}
	if srv.State == StateStopping {
		h.finish(ctx, srv, StateStopped, "Stopped before its job was submitted.", "user")
		return
	}
	h.finish(ctx, srv, StateFailed, "The hub was interrupted while submitting the job and no job named "+srv.JobName+" was found; please start again.", "submit")
}
