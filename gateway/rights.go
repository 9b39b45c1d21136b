package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// RefreshSchedule is the cron spec that runs RefreshRights often enough
// for a change in the directory to take effect within one interval: a
// change lands at most interval/2 before the next run starts, and a run
// that takes longer than interval/2 (the directory's timeout is 10s) is
// the directory failing, which changes nothing anyway. "" when off.
func RefreshSchedule(interval time.Duration) string {
	if interval <= 0 {
		return ""
	}
	return "@every " + max(interval/2, time.Second).String()
}

// RefreshRights looks every user who holds a live session or token up
// again in the directory with the service account, and applies what it
// says now:
//
//   - not found by user_filter (removed, or disabled by the site's
//     conditions in it), in no allowed group, a service account or a uid
//     below min_uid: every session and token of every kind is revoked,
//     their servers are stopped, and an "access revoked" event says why;
//   - still allowed: their admin flag and groups become the directory's,
//     so a demoted admin loses admin rights on the next request (the
//     identity is read from the store on every request) and an event says
//     so.
//
// A directory that cannot be reached or searched changes nothing: the
// error is returned (and counted) and every user keeps what they had.
func (h *Hub) RefreshRights(ctx context.Context) error {
	if h.dir == nil {
		return nil
	}
	names, err := h.users.UsersWithAccess(ctx, h.now())
	if err != nil {
		return err
	}
	if len(names) == 0 {
		h.metrics.refresh("ok")
		return nil
	}
	verdicts, err := h.dir.Refresh(ctx, names)
	if err != nil {
		h.metrics.refresh("unavailable")
		return fmt.Errorf("refresh the rights of %d users: %w (nothing changed)", len(names), err)
	}
	h.metrics.refresh("ok")
	for _, name := range names {
		v, ok := verdicts[name]
		if !ok {
			continue // undecidable (several entries): left as it is
		}
		if err := h.applyVerdict(ctx, name, v); err != nil {
			h.log.Warn("apply the directory's rights", "user", name, "err", err)
		}
	}
	return nil
}

func (h *Hub) applyVerdict(ctx context.Context, name string, v Verdict) error {
	if v.Err != nil {
		return h.revokeAccess(ctx, name, v.Err)
	}
	u, err := h.users.GetUser(ctx, name)
	if err != nil {
		return err
	}
	now := v.User
	if u.Admin == now.Admin && slices.Equal(u.Groups, now.Groups) {
		return nil
	}
	// LastLogin stays: a refresh is not a login.
	if _, err := h.users.UpsertUser(ctx, User{Name: name, Admin: now.Admin, Groups: now.Groups}); err != nil {
		return err
	}
	switch {
	case u.Admin && !now.Admin && u.HubAdmin:
		// The refresh sets only the directory's verdict: an admin's grant
		// through the API stays, and so do the user's admin rights.
		h.userEvent(ctx, name, "demote", "The directory no longer lists "+name+
			" in an admin group; they stay an admin by the hub's grant (PATCH /hub/api/users/"+name+" {\"admin\": false} takes it back).")
	case u.Admin && !now.Admin:
		h.log.Warn("admin rights removed by the directory", "user", name)
		h.metrics.revoked("demoted")
		h.userEvent(ctx, name, "demote", "Admin rights removed: the directory no longer lists "+name+
			" in an admin group (or admin_users no longer names them).")
	case !u.Admin && now.Admin && !u.HubAdmin:
		h.log.Info("admin rights granted by the directory", "user", name)
		h.userEvent(ctx, name, "promote", "Admin rights granted: the directory lists "+name+" in an admin group.")
	}
	return nil
}

// revokeAccess ends everything that lets name act through the hub, and
// stops their servers: revoking the session alone would leave open
// WebSockets to a running kernel, and a job the user can no longer reach
// only burns their allocation until the culler finds it.
func (h *Hub) revokeAccess(ctx context.Context, name string, why error) error {
	reason := "unknown"
	switch {
	case errors.Is(why, ErrNotInDirectory):
		reason = "not_found"
	case errors.Is(why, ErrSystemAccount):
		reason = "system_account"
	case errors.Is(why, ErrNotAllowed):
		reason = "not_allowed"
	}
	sessions, tokens, err := h.users.RevokeUserAccess(ctx, name)
	if err != nil {
		return err
	}
	servers, err := h.servers.ListServers(ctx, ServerFilter{User: name, States: ActiveStates})
	if err != nil {
		return err
	}
	var stopped []string
	for _, s := range servers {
		if err := h.Stop(ctx, name, s.Name, "the directory refresh"); err != nil {
			h.log.Warn("stop the server of a user whose access was revoked", "user", name, "server", s.Name, "err", err)
			continue
		}
		stopped = append(stopped, orDefault(s.Name, "default"))
	}
	h.log.Warn("access revoked by the directory", "user", name, "reason", why.Error(),
		"sessions", sessions, "tokens", tokens, "servers_stopped", len(stopped))
	h.metrics.revoked(reason)
	msg := fmt.Sprintf("Access revoked: %s. Ended %d sessions and %d tokens", why, sessions, tokens)
	if len(stopped) > 0 {
		msg += fmt.Sprintf(", stopped %d servers", len(stopped))
	}
	h.eventUser(ctx, Event{User: name, Kind: "revoke", Message: msg + ".", Data: map[string]any{
		"reason": reason, "sessions": sessions, "tokens": tokens, "servers_stopped": stopped}})
	return nil
}

func (h *Hub) userEvent(ctx context.Context, name, kind, msg string) {
	h.eventUser(ctx, Event{User: name, Kind: kind, Message: msg})
}

func (h *Hub) eventUser(ctx context.Context, e Event) {
	if _, err := h.events.AddEvent(ctx, e); err != nil {
		h.log.Warn("record event", "user", e.User, "kind", e.Kind, "err", err)
	}
}
