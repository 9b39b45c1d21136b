package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"hpcgate/gateway/config"
)

// The class as a whole: the instructor's start and stop of every
// attendee's server, paced, and the timeline's tick (workshop_timeline.go
// decides; this acts).

// StartClass starts, in the background and paced, the servers of the
// workshop's attendees who have no active server: all of them, or with
// missingOnly those who had none for the open session yet. It returns how
// many it will start.
func (h *Hub) StartClass(ctx context.Context, name, by string, missingOnly bool) (int, error) {
	w, err := h.workshop(name)
	if err != nil {
		return 0, err
	}
	ph := PhaseAt(w, h.now())
	if !ph.Open {
		return 0, Errorf(ECONFLICT, "no session of %q is open: the class can be started from %s before a session", w.Title, FormatDuration(w.LeadTime.D()))
	}
	r, err := h.Roster(ctx, name, true)
	if err != nil {
		return 0, err
	}
	jobs, err := h.syncJobs(ctx, name)
	if err != nil {
		return 0, err
	}
	had := map[string]bool{}
	for _, j := range jobs {
		if j.Session == ph.Session.Index {
			had[j.User] = true
		}
	}
	var todo []RosterEntry
	for _, a := range r.Attendees {
		if a.Refused != "" || (missingOnly && had[a.Name]) {
			continue
		}
		if srv, err := h.servers.GetServer(ctx, a.Name, ""); err == nil && srv.State.Active() {
			continue
		}
		todo = append(todo, a)
	}
	h.startPaced(w, todo, by)
	return len(todo), nil
}

// startPaced submits one attendee's server after another, Pace apart, in
// the background, keeping the progress for the instructor page.
func (h *Hub) startPaced(w *config.Workshop, todo []RosterEntry, by string) {
	if len(todo) == 0 {
		return
	}
	h.ws.mu.Lock()
	if h.ws.busy[w.Name] {
		h.ws.mu.Unlock()
		return // the next tick or click sees who is still missing
	}
	if h.ws.busy == nil {
		h.ws.busy = map[string]bool{}
	}
	h.ws.busy[w.Name] = true
	h.ws.mu.Unlock()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer func() {
			h.ws.mu.Lock()
			delete(h.ws.busy, w.Name)
			h.ws.mu.Unlock()
		}()
		failed := 0
		for i, a := range todo {
			if i > 0 {
				select {
				case <-h.ctx.Done():
					return
				case <-time.After(w.Pace.D()):
				}
			}
			ctx, cancel := context.WithTimeout(h.ctx, time.Minute)
			_, err := h.SpawnWorkshop(ctx, w.Name, a.Name, a.Groups, by, "")
			cancel()
			if err != nil && ErrorCode(err) != ECONFLICT {
				failed++
				h.log.Warn("workshop start failed", "workshop", w.Name, "user", a.Name, "err", err)
			}
			msg := fmt.Sprintf("Started %d of %d servers", i+1, len(todo))
			if failed > 0 {
				msg += fmt.Sprintf(" (%d failed; see the roster)", failed)
			}
			h.ws.mu.Lock()
			if h.ws.starting == nil {
				h.ws.starting = map[string]string{}
			}
			h.ws.starting[w.Name] = msg
			h.ws.mu.Unlock()
		}
		h.log.Info("workshop class started", "workshop", w.Name, "servers", len(todo), "failed", failed, "by", by)
	}()
}

// StopClass stops every active server of the workshop's attendees that
// the workshop started; their other servers are theirs. It returns how
// many it stopped.
func (h *Hub) StopClass(ctx context.Context, name, by string) (int, error) {
	if _, err := h.workshop(name); err != nil {
		return 0, err
	}
	jobs, err := h.syncJobs(ctx, name)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, j := range jobs {
		if !j.Ended.IsZero() {
			continue
		}
		if err := h.Stop(ctx, j.User, "", by); err != nil && ErrorCode(err) != ECONFLICT {
			h.log.Warn("workshop stop failed", "workshop", name, "user", j.User, "err", err)
			continue
		}
		n++
	}
	return n, nil
}

// WorkshopTick is the workshops' cron job: for each workshop, refresh the
// roster, then start, warn and stop as timeline decides.
func (h *Hub) WorkshopTick(ctx context.Context) error {
	if h.ws.store == nil {
		return nil
	}
	var errs []error
	for i := range h.cfg.Workshops {
		if err := h.tickWorkshop(ctx, &h.cfg.Workshops[i]); err != nil {
			errs = append(errs, fmt.Errorf("workshop %s: %w", h.cfg.Workshops[i].Name, err))
		}
	}
	return errors.Join(errs...)
}

func (h *Hub) tickWorkshop(ctx context.Context, w *config.Workshop) error {
	now := h.now()
	ph := PhaseAt(w, now)
	var names []string
	var roster *Roster
	if ph.Open {
		r, err := h.Roster(ctx, w.Name, false)
		if err != nil {
			return err
		}
		roster, names = r, r.Names()
	}
	jobs, err := h.syncJobs(ctx, w.Name)
	if err != nil {
		return err
	}
	active := map[string]bool{}
	for _, u := range names {
		if srv, err := h.servers.GetServer(ctx, u, ""); err == nil && srv.State.Active() {
			active[u] = true
		}
	}
	h.ws.mu.Lock()
	warned := map[string]bool{}
	for k := range h.ws.warned {
		warned[k] = true
	}
	h.ws.mu.Unlock()
	var start []RosterEntry
	for _, a := range timeline(w, now, names, jobs, active, warned) {
		switch a.Kind {
		case tlStart:
			for _, e := range roster.Attendees {
				if e.Name == a.User {
					start = append(start, e)
				}
			}
		case tlWarn:
			h.ws.mu.Lock()
			if h.ws.warned == nil {
				h.ws.warned = map[string]bool{}
			}
			h.ws.warned[a.Job.JobName] = true
			h.ws.mu.Unlock()
			end := ph.Session
			msg := "The workshop session ends soon; your server will be stopped then. Save your work."
			if end != nil {
				msg = "The workshop session ends at " + end.End.Format("15:04 MST") + "; your server will be stopped then. Save your work."
			}
			h.eventUser(ctx, Event{Time: now, User: a.User, JobID: a.Job.JobID, Kind: "workshop-warning", Message: msg})
			if srv, err := h.servers.GetServer(ctx, a.User, ""); err == nil && srv.JobName == a.Job.JobName {
				p := h.progressOf(srv)
				p.Warning = msg
				h.broker.publish(serverKey(srv.User, srv.Name), p)
			}
		case tlStop:
			h.log.Info("workshop session over: stopping server", "workshop", w.Name, "user", a.User, "job", a.Job.JobID)
			if err := h.Stop(ctx, a.User, "", "the end of the workshop session"); err != nil && ErrorCode(err) != ECONFLICT && ErrorCode(err) != ENOTFOUND {
				h.log.Warn("workshop stop failed", "workshop", w.Name, "user", a.User, "err", err)
			}
		}
	}
	if len(start) > 0 {
		h.log.Info("workshop session near: starting the class", "workshop", w.Name, "session", ph.Session.Index+1, "servers", len(start))
		h.startPaced(w, start, "the workshop timeline")
	}
	return nil
}
