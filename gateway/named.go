package gateway

import (
	"context"
	"errors"
	"fmt"
	"regexp"
)

// Named servers (JupyterHub's allow_named_servers): beside the default
// server ("") a user may run servers under names of their choosing, each at
// /user/<name>/<server>/ with its own job, token and OAuth client.

// MaxServerNameLen bounds a server name: it goes into URLs, the job's name
// on the scheduler (hpcgate-<user>-<server>-<nonce>) and cookie names.
const MaxServerNameLen = 32

// reServerName is the characters a URL path segment needs no escaping for
// (RFC 3986 unreserved), so /user/<name>/<server>/, the OAuth client id
// jupyterhub-user-<name>-<server> and the job name read the same
// everywhere; the first one may not be a dot, so "." and ".." never name
// a server.
var reServerName = regexp.MustCompile(`^[A-Za-z0-9_~-][A-Za-z0-9._~-]*$`)

// ValidServerName reports why name cannot name a server, or nil. The empty
// name is the default server's and is not checked here.
func ValidServerName(name string) error {
	switch {
	case len(name) > MaxServerNameLen:
		return FieldError("server_name", fmt.Sprintf("%d characters is too long; at most %d", len(name), MaxServerNameLen))
	case !reServerName.MatchString(name):
		return FieldError("server_name", fmt.Sprintf("%q may hold only letters, digits and . _ ~ - (not starting with .)", name))
	}
	return nil
}

// checkNamedServer is what JupyterHub 3.0 checks before a named server
// starts (apihandlers/users.py UserServerAPIHandler.post), with its words:
// named servers enabled, a valid name, and the user below
// named_servers.limit_per_user. Stopped named servers count until they are
// deleted, as JupyterHub's spawners do; starting one again never counts
// twice.
func (h *Hub) checkNamedServer(ctx context.Context, user, name string) error {
	if name == "" {
		return nil
	}
	ns := h.cfg.NamedServers
	if !ns.Enabled {
		return Errorf(EINVALID, "Named servers are not enabled.")
	}
	if err := ValidServerName(name); err != nil {
		return err
	}
	if ns.LimitPerUser <= 0 {
		return nil
	}
	list, err := h.servers.ListServers(ctx, ServerFilter{User: user})
	if err != nil {
		return fmt.Errorf("count the named servers of %s: %w", user, err)
	}
	n := 0
	for _, s := range list {
		if s.Name == name {
			return nil // exists already: starting it again adds none
		}
		if s.Name != "" {
			n++
		}
	}
	if n >= ns.LimitPerUser {
		return Errorf(EINVALID, "User %s already has the maximum of %d named servers.  One must be deleted before a new server can be created", user, ns.LimitPerUser)
	}
	return nil
}

// RemoveServer deletes a named server from the hub (JupyterHub's DELETE
// …/servers/<name> with {"remove": true}): at once when it is stopped or
// failed, or once its job has ended when it is active (Stop is asked
// here). The default server cannot be removed.
func (h *Hub) RemoveServer(ctx context.Context, user, name, by string) error {
	if name == "" {
		return Errorf(EINVALID, "Cannot delete the default server")
	}
	srv, err := h.servers.GetServer(ctx, user, name)
	if errors.Is(err, ErrNotFound) {
		return Errorf(ENOTFOUND, "%s has no server named '%s'", user, name)
	} else if err != nil {
		return err
	}
	if srv.State.Active() {
		h.mu.Lock()
		h.remove[srv.ID] = true
		h.mu.Unlock()
		// The mark is kept in the events table too, so that a hub
		// restarted before the job ends, or the replica that sees it
		// end, still deletes the server (removeIfMarked).
		h.eventData(ctx, srv, eventRemove, "Removal requested by "+orDefault(by, user)+"; the server is deleted once its job has ended.",
			map[string]any{"server_id": srv.ID})
		err := h.Stop(ctx, user, name, by)
		if ErrorCode(err) == ECONFLICT {
			// It ended between the read and the stop: not active now.
			return h.deleteServer(ctx, srv)
		}
		return err
	}
	return h.deleteServer(ctx, srv)
}

// deleteServer removes a stopped server's row (its tokens go with it).
func (h *Hub) deleteServer(ctx context.Context, srv *Server) error {
	h.mu.Lock()
	delete(h.remove, srv.ID)
	h.mu.Unlock()
	if err := h.servers.DeleteServer(context.WithoutCancel(ctx), srv.User, srv.Name); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete server %s:%s: %w", srv.User, srv.Name, err)
	}
	h.log.Info("server deleted", "user", srv.User, "server", srv.Name)
	return nil
}

// eventRemove is the event recording that a named server is to be
// deleted once its job ends; its data's server_id is the row's id, which
// is never handed out again.
const eventRemove = "remove"

// removeIfMarked deletes srv, which has just ended, when its owner asked
// for it to be removed: in this process (memory), or before a restart or
// on another replica (the events table).
func (h *Hub) removeIfMarked(ctx context.Context, srv *Server) {
	if srv.Name == "" {
		return // the default server is never removed
	}
	h.mu.Lock()
	marked := h.remove[srv.ID]
	h.mu.Unlock()
	if !marked {
		var err error
		if marked, err = h.removalRecorded(ctx, srv); err != nil {
			h.log.Error("look up removal of ended server failed", "user", srv.User, "server", srv.Name, "err", err)
			return
		}
	}
	if !marked {
		return
	}
	if err := h.deleteServer(ctx, srv); err != nil {
		h.log.Error("delete server after stop failed", "user", srv.User, "server", srv.Name, "err", err)
	}
}

// removalRecorded reports whether the events ask for srv to be removed:
// a remove event for this row, newer than the row's last spawn (a spawn
// after it means the removal was given up, e.g. the delete failed).
func (h *Hub) removalRecorded(ctx context.Context, srv *Server) (bool, error) {
	name := srv.Name
	evs, err := h.events.ListEvents(context.WithoutCancel(ctx), EventFilter{User: srv.User, Server: &name, Limit: 50})
	if err != nil {
		return false, err
	}
	for _, e := range evs { // newest first
		switch e.Kind {
		case "spawn":
			return false, nil
		case eventRemove:
			if id, ok := e.Data["server_id"].(float64); ok && int64(id) == srv.ID {
				return true, nil
			}
		}
	}
	return false, nil
}

// serverLabel names a server in messages: "alice's server" for the
// default one, "alice's server gpu" for a named one.
func serverLabel(user, name string) string {
	if name == "" {
		return user + "'s server"
	}
	return user + "'s server " + name
}
