package gateway

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"hpcgate/gateway/config"
)

// rosterTTL is how long a workshop's roster is used before the directory
// is asked again (the timeline's tick and the instructor page refresh it).
const rosterTTL = time.Minute

// openEventEvery bounds the "an instructor opened your server" events to
// one per instructor and attendee in this time.
const openEventEvery = 10 * time.Minute

// workshopState is the hub's memory of its workshops: the rosters from the
// directory, the warnings sent, the instructors' recent visits and the
// progress of a class being started.
type workshopState struct {
	store   WorkshopStore
	members GroupDirectory

	mu       sync.Mutex
	rosters  map[string]*Roster
	warned   map[string]bool      // job names warned of their session's end
	opened   map[string]time.Time // instructor + "\x00" + attendee
	starting map[string]string    // workshop → progress of its start
	busy     map[string]bool      // workshops whose class is being started
}

// Roster is a workshop's attendees as the directory lists them.
type Roster struct {
	Attendees []RosterEntry
	Fetched   time.Time
	Err       string // why the last refresh failed; the old list is kept
}

// RosterEntry is one member of the attendee group.
type RosterEntry struct {
	Name        string
	DisplayName string
	Groups      []string
	Refused     string // why the hub may not serve them; "" when it may
}

// Names are the attendees the hub may serve.
func (r *Roster) Names() []string {
	var out []string
	for _, a := range r.Attendees {
		if a.Refused == "" {
			out = append(out, a.Name)
		}
	}
	return out
}

func (r *Roster) has(name string) bool {
	for _, a := range r.Attendees {
		if a.Name == name && a.Refused == "" {
			return true
		}
	}
	return false
}

// workshop returns the configured workshop called name, if the hub runs
// workshops.
func (h *Hub) workshop(name string) (*config.Workshop, error) {
	w, ok := h.cfg.Workshop(name)
	if !ok || h.ws.store == nil {
		return nil, Errorf(ENOTFOUND, "there is no workshop %q", name)
	}
	return w, nil
}

// WorkshopCards are the workshops whose attendee group holds groups, as
// their home page shows them at now.
func (h *Hub) WorkshopCards(groups []string, now time.Time) []WorkshopCard {
	if h.ws.store == nil {
		return nil
	}
	var out []WorkshopCard
	for i := range h.cfg.Workshops {
		w := &h.cfg.Workshops[i]
		if !InGroup(groups, w.AttendeeGroup) {
			continue
		}
		ph := PhaseAt(w, now)
		c := WorkshopCard{Name: w.Name, Title: w.Title, Description: w.Description, Open: ph.Open, Sessions: len(w.Windows())}
		if ph.Session != nil {
			c.Start, c.End, c.Session = ph.Session.Start, ph.Session.End, ph.Session.Index+1
		}
		out = append(out, c)
	}
	return out
}

// InstructorOf names the workshops whose instructor group holds groups.
func (h *Hub) InstructorOf(groups []string) []string {
	if h.ws.store == nil {
		return nil
	}
	var out []string
	for _, w := range h.cfg.Workshops {
		if InGroup(groups, w.InstructorGroup) {
			out = append(out, w.Name)
		}
	}
	return out
}

// InstructorGrants are the attendees whose servers someone with groups
// may open as an instructor: those of the workshops they teach, from the
// rosters the hub holds. A roster not fetched yet grants nothing.
func (h *Hub) InstructorGrants(groups []string) []string {
	var out []string
	for _, name := range h.InstructorOf(groups) {
		h.ws.mu.Lock()
		if r := h.ws.rosters[name]; r != nil {
			out = append(out, r.Names()...)
		}
		h.ws.mu.Unlock()
	}
	return out
}

// Roster is the workshop's attendee list, from the directory when the one
// held is older than rosterTTL (or refresh is set).
func (h *Hub) Roster(ctx context.Context, name string, refresh bool) (*Roster, error) {
	w, err := h.workshop(name)
	if err != nil {
		return nil, err
	}
	h.ws.mu.Lock()
	r := h.ws.rosters[name]
	h.ws.mu.Unlock()
	if r != nil && !refresh && h.now().Sub(r.Fetched) < rosterTTL {
		return r, nil
	}
	if h.ws.members == nil {
		return nil, Errorf(EUNAVAILABLE, "the hub has no directory service account to list the workshop's group")
	}
	verdicts, err := h.ws.members.GroupMembers(ctx, w.AttendeeGroup)
	if err != nil {
		h.log.Warn("list workshop attendees failed", "workshop", name, "err", err)
		if r != nil {
			cp := *r
			cp.Err = ErrDirectoryUnavailable.Error()
			return &cp, nil
		}
		return nil, Errorf(EUNAVAILABLE, "%s", ErrDirectoryUnavailable.Error())
	}
	nr := &Roster{Fetched: h.now()}
	for _, v := range verdicts {
		if v.User == nil {
			continue
		}
		e := RosterEntry{Name: v.User.Name, DisplayName: v.User.DisplayName, Groups: v.User.Groups}
		if v.Err != nil {
			e.Refused = v.Err.Error()
		}
		nr.Attendees = append(nr.Attendees, e)
	}
	sort.Slice(nr.Attendees, func(i, j int) bool { return nr.Attendees[i].Name < nr.Attendees[j].Name })
	h.ws.mu.Lock()
	if h.ws.rosters == nil {
		h.ws.rosters = map[string]*Roster{}
	}
	h.ws.rosters[name] = nr
	h.ws.mu.Unlock()
	return nr, nil
}

// SpawnWorkshop starts user's server for the workshop: only while a
// session is open (from the lead time before it to its end), within
// max_attendees, through PlanSpawn with the workshop's rules.
func (h *Hub) SpawnWorkshop(ctx context.Context, name, user string, groups []string, by, profile string) (*ServerInfo, error) {
	w, err := h.workshop(name)
	if err != nil {
		return nil, err
	}
	now := h.now()
	ph := PhaseAt(w, now)
	if !ph.Open {
		if ph.Session == nil {
			return nil, Errorf(ECONFLICT, "the workshop %q is over", w.Title)
		}
		return nil, Errorf(ECONFLICT, "the workshop %q opens at %s (in %s)", w.Title,
			ph.Session.Start.Add(-w.LeadTime.D()).Format("2006-01-02 15:04 MST"), FormatDuration(ph.Session.Start.Add(-w.LeadTime.D()).Sub(now).Round(time.Second)))
	}
	if n := w.Limits.MaxAttendees; n > 0 {
		jobs, err := h.ws.store.ListWorkshopJobs(ctx, name)
		if err != nil {
			return nil, err
		}
		users := map[string]bool{}
		for _, j := range jobs {
			if j.Session == ph.Session.Index {
				users[j.User] = true
			}
		}
		if !users[user] && len(users) >= n {
			return nil, Errorf(ECONFLICT, "the workshop %q has its %d attendees for this session", w.Title, n)
		}
	}
	return h.Spawn(ctx, SpawnRequest{User: user, Groups: groups, By: by, Profile: profile,
		Workshop: name, Session: ph.Session.Index, Now: now, SessionEnd: ph.Session.End})
}

// recordWorkshopJob remembers srv as the workshop's job for session.
func (h *Hub) recordWorkshopJob(ctx context.Context, w *config.Workshop, session int, srv *Server) {
	if h.ws.store == nil {
		return
	}
	_, err := h.ws.store.AddWorkshopJob(context.WithoutCancel(ctx), WorkshopJob{
		Workshop: w.Name, Session: session, User: srv.User, JobName: srv.JobName, Cores: srv.Resources.Cores, Created: h.now(),
	})
	if err != nil {
		h.log.Error("record workshop job failed", "workshop", w.Name, "user", srv.User, "err", err)
	}
}

// workshopSetup are the job script's extra setup lines for plan.
func workshopSetup(p *Plan) []string {
	if p.Workshop == nil {
		return nil
	}
	return MaterialsSetup(p.Workshop)
}

// syncJobs copies what the servers know of the workshop's unfinished jobs
// (job id, submitted, started, ended) into the store, and returns them
// all. A job whose server has since been spawned again ended at the
// latest when it was replaced; it is closed now.
func (h *Hub) syncJobs(ctx context.Context, name string) ([]*WorkshopJob, error) {
	jobs, err := h.ws.store.ListWorkshopJobs(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		if !j.Ended.IsZero() {
			continue
		}
		before := *j
		srv, err := h.servers.GetServer(ctx, j.User, "")
		switch {
		case errors.Is(err, ErrNotFound):
			j.Ended = h.now()
		case err != nil:
			return nil, err
		case srv.JobName != j.JobName:
			j.Ended = h.now()
		default:
			j.JobID, j.Submitted, j.Started = srv.JobID, srv.Submitted, srv.Started
			if !srv.State.Active() {
				j.Ended = srv.Stopped
				if j.Ended.IsZero() {
					j.Ended = h.now()
				}
			}
		}
		if *j != before {
			if err := h.ws.store.UpdateWorkshopJob(ctx, *j); err != nil {
				return nil, err
			}
		}
	}
	return jobs, nil
}

// AttendeeStatus is one line of the instructor's view.
type AttendeeStatus struct {
	User, DisplayName string
	Refused           string
	Server            *ServerInfo // nil: never had one
	WorkshopJob       bool        // the server is one of this workshop's
	WalltimeLeft      time.Duration
}

// WorkshopStatus is the instructor's view of a workshop.
type WorkshopStatus struct {
	Workshop  *config.Workshop
	Phase     Phase
	Attendees []AttendeeStatus
	RosterErr string
	Fetched   time.Time
	Progress  string // of a class being started; "" when none
}

// WorkshopStatus is the class as its instructors see it: every attendee
// of the roster, logged in or not, with their server.
func (h *Hub) WorkshopStatus(ctx context.Context, name string) (*WorkshopStatus, error) {
	w, err := h.workshop(name)
	if err != nil {
		return nil, err
	}
	r, err := h.Roster(ctx, name, false)
	if err != nil {
		return nil, err
	}
	jobs, err := h.syncJobs(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("workshop %s: %w", name, err)
	}
	ours := map[string]bool{}
	for _, j := range jobs {
		ours[j.User+"\x00"+j.JobName] = true
	}
	now := h.now()
	st := &WorkshopStatus{Workshop: w, Phase: PhaseAt(w, now), RosterErr: r.Err, Fetched: r.Fetched}
	h.ws.mu.Lock()
	st.Progress = h.ws.starting[name]
	h.ws.mu.Unlock()
	for _, a := range r.Attendees {
		line := AttendeeStatus{User: a.Name, DisplayName: a.DisplayName, Refused: a.Refused}
		if srv, err := h.servers.GetServer(ctx, a.Name, ""); err == nil {
			line.Server = h.info(srv)
			line.WorkshopJob = ours[a.Name+"\x00"+srv.JobName]
			line.WalltimeLeft = line.Server.WalltimeLeft(now)
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		st.Attendees = append(st.Attendees, line)
	}
	return st, nil
}

// OpenAsInstructor checks that instructor (with groups) teaches the
// workshop and attendee attends it, and records, at most once per
// openEventEvery, an event the attendee sees on their home page.
func (h *Hub) OpenAsInstructor(ctx context.Context, name, instructor string, groups []string, attendee string) error {
	w, err := h.workshop(name)
	if err != nil {
		return err
	}
	if !InGroup(groups, w.InstructorGroup) {
		return Errorf(EFORBIDDEN, "you are not an instructor of %q", w.Title)
	}
	r, err := h.Roster(ctx, name, false)
	if err != nil {
		return err
	}
	if !r.has(attendee) {
		return Errorf(EFORBIDDEN, "%s is not an attendee of %q", attendee, w.Title)
	}
	h.NoteInstructorVisit(ctx, instructor, attendee)
	return nil
}

// NoteInstructorVisit records that instructor opened attendee's server,
// once per openEventEvery, as an event on the attendee's history.
func (h *Hub) NoteInstructorVisit(ctx context.Context, instructor, attendee string) {
	key := instructor + "\x00" + attendee
	now := h.now()
	h.ws.mu.Lock()
	if h.ws.opened == nil {
		h.ws.opened = map[string]time.Time{}
	}
	last, seen := h.ws.opened[key]
	if seen && now.Sub(last) < openEventEvery {
		h.ws.mu.Unlock()
		return
	}
	h.ws.opened[key] = now
	h.ws.mu.Unlock()
	h.log.Info("instructor opened an attendee's server", "user", instructor, "owner", attendee)
	h.eventUser(ctx, Event{Time: now, User: attendee, Kind: "instructor-open",
		Message: "Instructor " + instructor + " opened your server to help you."})
}

// InstructorVisits are the newest times instructors opened user's server.
func (h *Hub) InstructorVisits(ctx context.Context, user string) ([]*Event, error) {
	return h.events.ListEvents(ctx, EventFilter{User: user, Kind: "instructor-open", Limit: 5})
}

// WorkshopUsage is the usage report: every attendee of the roster and
// everyone who ran a job for the workshop, with sessions, time queued,
// time running and core-hours.
func (h *Hub) WorkshopUsage(ctx context.Context, name string) ([]AttendeeUsage, error) {
	if _, err := h.workshop(name); err != nil {
		return nil, err
	}
	var names []string
	if r, err := h.Roster(ctx, name, false); err == nil {
		names = r.Names()
	}
	jobs, err := h.syncJobs(ctx, name)
	if err != nil {
		return nil, err
	}
	return usage(names, jobs, h.now()), nil
}
