package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/robfig/cron/v3"
)

// StartCron schedules the hub's periodic work from the site's cron
// settings: reconcile (a poll of any cluster whose poller fell behind),
// refresh users' rights from the directory (every ldap.refresh_interval/2),
// cull idle servers, expire tokens, sessions and OAuth codes, and prune old
// events. A job still running when its next turn comes is skipped; a job
// that panics is logged with its stack and runs again at its next turn.
// With replicas, each job runs on the replica leading it: every replica
// tries at each turn, and the one holding the job's lock runs it. Stop
// the returned scheduler on exit.
func (h *Hub) StartCron() (*cron.Cron, error) {
	log := h.log
	logger := cronLogger{log}
	c := cron.New(cron.WithChain(cron.SkipIfStillRunning(logger), cron.Recover(logger)))
	for _, j := range h.cronTable() {
		j := j
		if _, err := c.AddFunc(j.spec, func() {
			ctx, cancel := context.WithTimeout(h.ctx, 5*time.Minute)
			defer cancel()
			if !h.lead(ctx, lockCron(j.name)) {
				return // another replica runs it
			}
			if err := j.run(ctx); err != nil {
				log.Warn("periodic job failed", "job", j.name, "err", err)
			}
		}); err != nil {
			return nil, fmt.Errorf("cron.%s %q: %w", j.name, j.spec, err)
		}
	}
	// Take the free leads now, so that /hub/health says at once who
	// runs what; a follower tries again at each turn.
	for _, j := range h.cronTable() {
		h.lead(h.ctx, lockCron(j.name))
	}
	c.Start()
	return c, nil
}

type cronJob struct {
	name, spec string
	run        func(context.Context) error
}

// cronTable is the site's periodic jobs, those with a schedule.
func (h *Hub) cronTable() []cronJob {
	cfg := h.cfg
	jobs := []cronJob{
		{"reconcile", cfg.Cron.Reconcile, h.Reconcile},
		{"refresh_rights", RefreshSchedule(time.Duration(cfg.LDAP.RefreshInterval)), h.RefreshRights},
		{"cull", cfg.Cron.Cull, h.Cull},
		{"expire_tokens", cfg.Cron.ExpireTokens, h.expire},
		{"prune_events", cfg.Cron.PruneEvents, h.pruneEvents},
		{"workshops", cfg.Cron.Workshops, h.WorkshopTick}, // workshop_hub.go
	}
	return slices.DeleteFunc(jobs, func(j cronJob) bool { return j.spec == "" })
}

// cronJobs names the site's periodic jobs.
func (h *Hub) cronJobs() []string {
	var names []string
	for _, j := range h.cronTable() {
		names = append(names, j.name)
	}
	return names
}

// cronLogger sends the cron library's messages to the hub's log: a panic
// in a periodic job (cron.Recover) is an error with its stack, never lost.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}

func (h *Hub) pruneEvents(ctx context.Context) error {
	if h.cfg.EventsRetention == 0 {
		return nil
	}
	n, err := h.events.PruneEvents(ctx, h.now().Add(-time.Duration(h.cfg.EventsRetention)))
	if n > 0 {
		h.log.Info("pruned events", "count", n)
	}
	return err
}

func (h *Hub) expire(ctx context.Context) error {
	now := h.now()
	t, err := h.tokens.DeleteExpiredTokens(ctx, now)
	if err != nil {
		return err
	}
	s, err := h.sessions.DeleteExpiredSessions(ctx, now)
	if err != nil {
		return err
	}
	c, err := h.sessions.DeleteExpiredCodes(ctx, now)
	if err != nil {
		return err
	}
	if t+s+c > 0 {
		h.log.Info("expired", "tokens", t, "sessions", s, "oauth_codes", c)
	}
	return nil
}

// Reconcile polls every cluster whose poller has not polled for a whole
// interval: a safety net that keeps the scheduler load at one status query
// per cluster per interval when the pollers are healthy.
func (h *Hub) Reconcile(ctx context.Context) error {
	for _, name := range h.order {
		if p := h.pollers[name]; p != nil && p.stale() {
			p.poll(ctx)
		}
	}
	return nil
}

// Cull stops servers idle longer than cull.idle_timeout, or older than
// cull.max_age. Only ready servers are culled: a queued job is the
// business of the queue timeout, never of the culler. Each cull is an
// event with its reason.
func (h *Hub) Cull(ctx context.Context) error {
	cc := h.cfg.Cull
	if cc.IdleTimeout == 0 && cc.MaxAge == 0 {
		return nil
	}
	servers, err := h.servers.ListServers(ctx, ServerFilter{States: []ServerState{StateReady}})
	if err != nil {
		return err
	}
	now := h.now()
	for _, s := range servers {
		if !cc.CullAdmins {
			if u, err := h.users.GetUser(ctx, s.User); err == nil && u.IsAdmin() {
				continue
			}
		}
		last := s.LastActivity
		if last.IsZero() || last.Before(s.Ready) {
			last = s.Ready
		}
		var why string
		switch {
		case cc.IdleTimeout > 0 && now.Sub(last) > time.Duration(cc.IdleTimeout):
			why = fmt.Sprintf("idle for %s (the site culls after %s without activity)", FormatDuration(now.Sub(last)), FormatDuration(time.Duration(cc.IdleTimeout)))
		case cc.MaxAge > 0 && now.Sub(s.Ready) > time.Duration(cc.MaxAge):
			why = fmt.Sprintf("running for %s (the site's limit is %s)", FormatDuration(now.Sub(s.Ready)), FormatDuration(time.Duration(cc.MaxAge)))
		default:
			continue
		}
		h.log.Info("culling server", "user", s.User, "cluster", s.Cluster, "job", s.JobID, "why", why)
		h.event(ctx, s, "cull", "Stopped by the culler: "+why+".")
		if err := h.Stop(ctx, s.User, s.Name, "the culler"); err != nil {
			h.log.Warn("cull failed", "user", s.User, "err", err)
			continue
		}
		h.metrics.ended(s.Cluster, "cull")
	}
	return nil
}
