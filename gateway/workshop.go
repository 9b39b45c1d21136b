package gateway

import (
	"context"
	"fmt"
	"strings"
	"time"

	"hpcgate/batch"
	"hpcgate/gateway/config"
)

// A workshop (config.Workshop) is a course: its attendees get servers
// inside its reservation during its sessions, started for them the lead
// time before each one; its instructors see the class, start and stop it
// and may open an attendee's server. This file holds the domain's types
// and the pure decisions; workshop_hub.go applies them.

// WorkshopJob is one server the hub started for a workshop's session: the
// usage report is made of them, and the timeline stops them at the end.
type WorkshopJob struct {
	ID        int64
	Workshop  string
	Session   int // index of the session in the site file
	User      string
	JobName   string // the spawn's unique job name (Server.JobName)
	JobID     string // "" until the scheduler gave one
	Cores     int
	Submitted time.Time // zero: not (yet) accepted by the scheduler
	Started   time.Time // zero: never ran
	Ended     time.Time // zero: still active
	Created   time.Time
}

// WorkshopStore keeps the workshops' jobs.
type WorkshopStore interface {
	AddWorkshopJob(ctx context.Context, j WorkshopJob) (int64, error)
	// ListWorkshopJobs lists a workshop's jobs, oldest first.
	ListWorkshopJobs(ctx context.Context, workshop string) ([]*WorkshopJob, error)
	// UpdateWorkshopJob records j's job id and times.
	UpdateWorkshopJob(ctx context.Context, j WorkshopJob) error
}

// GroupDirectory lists a directory group's members with the service
// account, including people who never logged in to the hub. Members the
// hub may not serve (system accounts, not allowed) are listed with Err.
type GroupDirectory interface {
	GroupMembers(ctx context.Context, groupDN string) ([]Verdict, error)
}

// Phase is where a workshop stands at a moment.
type Phase struct {
	// Open: the launch card is shown and spawns are allowed, from the
	// lead time before a session to its end.
	Open bool
	// Session is the open session, or the next one; nil when the course
	// is over.
	Session *config.Window
}

// PhaseAt is w's phase at now.
func PhaseAt(w *config.Workshop, now time.Time) Phase {
	lead := w.LeadTime.D()
	for _, win := range w.Windows() {
		win := win
		switch {
		case now.Before(win.Start.Add(-lead)):
			return Phase{Session: &win}
		case now.Before(win.End):
			return Phase{Open: true, Session: &win}
		}
	}
	return Phase{}
}

// WorkshopCard is what an attendee's home page shows of a workshop.
type WorkshopCard struct {
	Name, Title, Description string
	Open                     bool
	Start, End               time.Time // the open or next session; zero when over
	Session                  int       // its number, from 1
	Sessions                 int
}

// Countdown is how long until the card's session starts, for people.
func (c WorkshopCard) Countdown(now time.Time) string {
	if c.Start.IsZero() || !now.Before(c.Start) {
		return ""
	}
	return FormatDuration(c.Start.Sub(now).Round(time.Second))
}

// InGroup reports whether groups (DNs) hold dn, compared as LDAP does.
func InGroup(groups []string, dn string) bool {
	p := config.Profile{AllowedGroups: []string{dn}}
	return p.AllowedFor(groups)
}

// planWorkshop is PlanSpawn for a workshop's spawn: only attendees, only
// the workshop's profiles on its cluster, the cores within its limit, the
// walltime to the end of the session where the profile allows it, and the
// job placed in the reservation.
func planWorkshop(cfg *config.Config, req SpawnRequest) (*Plan, error) {
	w, ok := cfg.Workshop(req.Workshop)
	if !ok {
		return nil, Errorf(ENOTFOUND, "there is no workshop %q", req.Workshop)
	}
	if !InGroup(req.Groups, w.AttendeeGroup) {
		return nil, Errorf(EFORBIDDEN, "%s is not an attendee of the workshop %q: ask its instructors to add you to its group", req.User, w.Title)
	}
	profile := req.Profile
	if profile == "" {
		profile = w.Profiles[0]
	}
	if !contains(w.Profiles, profile) {
		return nil, FieldError("profile", fmt.Sprintf("%q is not offered by the workshop (choose %s)", profile, config.OrList(w.Profiles)))
	}
	opts := map[string]string{}
	for k, v := range req.Options {
		opts[k] = v
	}
	if req.SessionEnd.After(time.Time{}) && opts["walltime"] == "" {
		// Whole minutes (the scheduler's unit), rounded up: rounded
		// to the nearest, a class started 20 s past a minute before the
		// session was killed by the scheduler before the session's end.
		left := req.SessionEnd.Sub(req.Now)
		opts["walltime"] = (left + time.Minute - 1).Truncate(time.Minute).String()
	}
	inner := req
	inner.Workshop, inner.Cluster, inner.Profile, inner.Options = "", w.Cluster, profile, opts
	// The workshop's group, not the profile's allowed_groups, decides.
	inner.Groups = append(append([]string(nil), req.Groups...), profileGroups(cfg, w.Cluster, profile)...)
	plan, err := PlanSpawn(cfg, inner)
	if err != nil && plan != nil && opts["walltime"] != "" && req.Options["walltime"] == "" {
		// The session's end is outside the profile's walltime range:
		// the profile's default then.
		delete(opts, "walltime")
		plan, err = PlanSpawn(cfg, inner)
	}
	if err != nil {
		return plan, err
	}
	if n := w.Limits.CoresPerAttendee; n > 0 && plan.Resources.Cores > n {
		return plan, FieldError("cores", fmt.Sprintf("%d is above the workshop's %d cores per attendee", plan.Resources.Cores, n))
	}
	if w.Reservation != "" {
		if plan.Cluster.Scheduler == "pbs" {
			plan.Resources.Partition = w.Reservation // a reservation is a queue
		} else {
			plan.Resources.Extra = append(plan.Resources.Extra, "--reservation="+w.Reservation)
		}
	}
	plan.Workshop = w
	return plan, nil
}

func profileGroups(cfg *config.Config, cluster, profile string) []string {
	if cl, ok := cfg.Cluster(cluster); ok {
		if p, ok := cl.Profile(profile); ok {
			return p.AllowedGroups
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// MaterialsSetup are the job script's lines that put w's materials in the
// attendee's home: a clone only where the directory does not exist yet,
// a copy that keeps every file already there. A failure is logged in the
// job's log and does not stop the server. Every value is quoted.
func MaterialsSetup(w *config.Workshop) []string {
	m := w.Materials
	if m.Copy == "" && m.Git == "" {
		return nil
	}
	into := batch.Quote(m.Into)
	var lines []string
	if m.Git != "" {
		clone := "git clone --quiet"
		if m.GitRef != "" {
			clone += " --branch " + batch.Quote(m.GitRef)
		}
		clone += " -- " + batch.Quote(m.Git) + " " + into
		lines = append(lines, fmt.Sprintf(`if [ ! -e %s ]; then %s || echo "hpcgate: workshop materials: git clone failed" >&2; fi`, into, clone))
	}
	if m.Copy != "" {
		src := batch.Quote(strings.TrimSuffix(m.Copy, "/") + "/.")
		lines = append(lines, fmt.Sprintf(`if [ -d %s ]; then mkdir -p -- %s && cp -Rn -- %s %s/ || echo "hpcgate: workshop materials: copy failed" >&2; fi`,
			batch.Quote(m.Copy), into, src, into))
	}
	return lines
}
