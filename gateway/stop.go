package gateway

import (
	"context"
	"errors"
)

// Stop cancels the user's job and removes the route. The server shows
// as stopping until the scheduler confirms the job is gone.
func (h *Hub) Stop(ctx context.Context, user, server, by string) error {
	srv, err := h.servers.GetServer(ctx, user, server)
	if errors.Is(err, ErrNotFound) {
		if server != "" {
			return Errorf(ENOTFOUND, "%s has no server named '%s'", user, server)
		}
		return Errorf(ENOTFOUND, "%s has no server", user)
	} else if err != nil {
		return err
	}
	if !srv.State.Active() {
		return Errorf(ECONFLICT, "%s is not running", serverLabel(user, server))
	}
	if srv.State == StateStopping {
		return nil
	}
	if _, err := h.transition(ctx, srv, StateStopping, ""); err != nil {
		return err
	}
	h.stopChecks(srv.ID)
	h.routes.DeleteRoute(srv.User, srv.Name)
	h.event(ctx, srv, "stop", "Stop requested by "+orDefault(by, user)+".")
	c, err := h.cluster(srv.Cluster)
	if err != nil {
		return err
	}
	if srv.JobID == "" { // still submitting: submit cancels it once it has an id
		h.refresh(ctx, srv.ID)
		return nil
	}
	if err := h.cancelJob(ctx, c, srv); err != nil {
		h.refresh(ctx, srv.ID)
		return &Error{Code: EUNAVAILABLE, Message: "The scheduler did not accept the cancel: " + schedulerWords(err) + " The hub will try again."}
	}
	h.refresh(ctx, srv.ID)
	h.kick(c.Config.Name)
	return nil
}

func (h *Hub) cancelJob(ctx context.Context, c *Cluster, srv *Server) error {
	start := h.now()
	err := c.Scheduler.Cancel(ctx, srv.User, srv.JobID)
	h.metrics.command(c.Config.Name, "cancel", h.now().Sub(start), err)
	if err != nil {
		h.log.Warn("cancel failed", "user", srv.User, "cluster", srv.Cluster, "job", srv.JobID, "err", err)
	}
	return err
}

// finish moves a server to a final state, revokes its token, removes its
// route and tells the watchers.
func (h *Hub) finish(ctx context.Context, srv *Server, to ServerState, reason, endedBy string) {
	moved, err := h.transition(ctx, srv, to, reason)
	if err != nil {
		h.log.Error("record end of server failed", "user", srv.User, "err", err)
		return
	}
	if !moved {
		return
	}
	h.stopChecks(srv.ID)
	h.routes.DeleteRoute(srv.User, srv.Name)
	if srv.TokenID != 0 {
		h.tokens.DeleteToken(ctx, srv.User, srv.TokenID)
	}
	h.mu.Lock()
	delete(h.misses, srv.ID)
	h.mu.Unlock()
	kind := "stopped"
	if to == StateFailed {
		kind = "failed"
	}
	h.event(ctx, srv, kind, reason)
	h.metrics.ended(srv.Cluster, endedBy)
	h.refresh(ctx, srv.ID)
	h.removeIfMarked(ctx, srv)
}
