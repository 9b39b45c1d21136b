package config

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"hpcgate/batch"
)

// Workshop is a course: a group of attendees who get servers of the
// offered profiles on one cluster, inside a reservation, during its
// sessions, and a group of instructors who see and help them. Instructors
// are not hub admins: their rights reach this workshop's attendees only.
type Workshop struct {
	// Name identifies the workshop in URLs (/hub/workshops/<name>) and
	// the database: ^[a-z][a-z0-9-]*$, unique. Required.
	Name string `yaml:"name"`
	// Title is shown on the attendees' launch card. Default: the name.
	Title string `yaml:"title"`
	// Description is shown under the title.
	Description string `yaml:"description"`
	// AttendeeGroup is the directory group (DN) whose members attend.
	// Required.
	AttendeeGroup string `yaml:"attendee_group"`
	// InstructorGroup is the directory group (DN) whose members see the
	// roster, start and stop the class and open attendees' servers.
	// Required.
	InstructorGroup string `yaml:"instructor_group"`
	// Cluster is the cluster the class runs on. Default: the first.
	Cluster string `yaml:"cluster"`
	// Profiles are the cluster's profiles attendees may choose; the
	// first is what the class is started with. Required.
	Profiles []string `yaml:"profiles"`
	// Reservation is the scheduler's reservation the class runs in: on
	// Slurm a --reservation name, on PBS the reservation's queue (R123
	// or its name). Empty: no reservation.
	Reservation string `yaml:"reservation"`
	// TimeZone is the IANA zone the sessions are written in.
	// Default: UTC.
	TimeZone string `yaml:"time_zone"`
	// Sessions are the course's windows, "2006-01-02 15:04" in TimeZone.
	// Attendees see the launch card only during one. Required.
	Sessions []Session `yaml:"sessions"`
	// LeadTime is how long before each session the hub starts the
	// attendees' servers; 0 starts none (attendees click). Default: 15m.
	LeadTime Duration `yaml:"lead_time"`
	// Pace is the pause between two submissions when the hub starts the
	// class, so the scheduler and the login node are not flooded.
	// Default: 2s.
	Pace Duration `yaml:"pace"`
	// Materials are put in the attendee's home when their server starts,
	// never overwriting what is there.
	Materials Materials `yaml:"materials"`
	// Limits bound what the class may take.
	Limits WorkshopLimits `yaml:"limits"`

	loc     *time.Location
	windows []Window
}

// Session is one window of a workshop, as written in the file.
type Session struct {
	// Start and End are "2006-01-02 15:04" in the workshop's time zone.
	Start string `yaml:"start"`
	End   string `yaml:"end"`
}

// Window is a session with its times resolved.
type Window struct {
	Index      int // 0-based, in the file's order
	Start, End time.Time
}

// Materials are what the class works on, put in place at each server start
// by the job script: copied or cloned only where the attendee has nothing
// yet, so their changes survive every restart.
type Materials struct {
	// Copy is a directory on the cluster whose content is copied into
	// Into; files the attendee already has are kept.
	Copy string `yaml:"copy"`
	// Git is a repository cloned into Into if Into does not exist yet:
	// https://…, ssh://…, git@host:path or an absolute path.
	Git string `yaml:"git"`
	// GitRef is the branch or tag to clone. Default: the repository's.
	GitRef string `yaml:"git_ref"`
	// Into is the directory, relative to the attendee's home, that
	// receives the materials. Default: the workshop's name.
	Into string `yaml:"into"`
}

// WorkshopLimits bound the class.
type WorkshopLimits struct {
	// CoresPerAttendee is the most cores one attendee's server may have;
	// 0 leaves it to the profile. Default: 0.
	CoresPerAttendee int `yaml:"cores_per_attendee"`
	// MaxAttendees is how many attendees the hub starts servers for and
	// lets spawn at once; 0 is no limit. Default: 0.
	MaxAttendees int `yaml:"max_attendees"`
}

// SessionLayout is how a session's start and end are written.
const SessionLayout = "2006-01-02 15:04"

// setDefaults is applied to each workshop before the file's values.
func (w *Workshop) setDefaults() {
	*w = Workshop{
		TimeZone: "UTC",
		LeadTime: Duration(15 * time.Minute),
		Pace:     Duration(2 * time.Second),
	}
}

// Windows are the sessions with their times, in the file's order. Valid
// only after Validate found no problem (Load does both).
func (w *Workshop) Windows() []Window { return w.windows }

// Location is the workshop's time zone (UTC before Validate).
func (w *Workshop) Location() *time.Location {
	if w.loc == nil {
		return time.UTC
	}
	return w.loc
}

var (
	reMaterialPath = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./+-]{0,199}$`)
	reGitURL       = regexp.MustCompile(`^(?:(?:https|ssh)://[A-Za-z0-9._~:@%/+-]+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~/+-]+|/[A-Za-z0-9._~/+-]+)$`)
	reGitRef       = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./-]{0,99}$`)
)

// Validate reports every problem in w, with paths relative to it. cfg is
// the site, for the cluster and its profiles.
func (w *Workshop) Validate(cfg *Config) []Problem {
	var ps problems
	if !reName.MatchString(w.Name) {
		ps.add("name", "%q must start with a lower-case letter and hold only lower-case letters, digits and dashes", w.Name)
	}
	if w.AttendeeGroup == "" {
		ps.add("attendee_group", "required (the directory group whose members attend, a DN)")
	} else {
		checkDN(&ps, "attendee_group", w.AttendeeGroup)
	}
	if w.InstructorGroup == "" {
		ps.add("instructor_group", "required (the directory group of the instructors, a DN)")
	} else {
		checkDN(&ps, "instructor_group", w.InstructorGroup)
	}
	var cl *Cluster
	switch {
	case w.Cluster != "":
		c, ok := cfg.Cluster(w.Cluster)
		if !ok {
			ps.add("cluster", "%q is not one of the clusters", w.Cluster)
		}
		cl = c
	case len(cfg.Clusters) > 0:
		cl = &cfg.Clusters[0]
	}
	if len(w.Profiles) == 0 {
		ps.add("profiles", "name at least one profile of the cluster (the first is what the class is started with)")
	}
	for i, p := range w.Profiles {
		if cl == nil {
			break
		}
		prof, ok := cl.Profile(p)
		if !ok {
			ps.add(fmt.Sprintf("profiles[%d]", i), "%q is not a profile of cluster %s", p, cl.Name)
			continue
		}
		if n := w.Limits.CoresPerAttendee; n > 0 {
			if lo, _ := prof.Cores.Bounds(); lo > n {
				ps.add(fmt.Sprintf("profiles[%d]", i), "%q needs at least %d cores, above limits.cores_per_attendee (%d)", p, lo, n)
			}
		}
	}
	if w.Reservation != "" {
		switch {
		case !batch.ValidWord(w.Reservation):
			ps.add("reservation", "%q is not a reservation name (letters, digits and _.:+-)", w.Reservation)
		case cl != nil && cl.Scheduler != "slurm" && cl.Scheduler != "pbs":
			ps.add("reservation", "hpcgate places jobs in a reservation on slurm and pbs clusters; %s is %s", cl.Name, cl.Scheduler)
		}
	}
	loc, err := time.LoadLocation(w.TimeZone)
	if err != nil || w.TimeZone == "" || w.TimeZone == "Local" {
		ps.add("time_zone", "%q is not an IANA time zone such as Europe/Brussels or UTC", w.TimeZone)
		loc = nil
	}
	w.loc = loc
	w.windows = nil
	if len(w.Sessions) == 0 {
		ps.add("sessions", "at least one session is required ({start: \"2026-03-10 09:00\", end: \"2026-03-10 12:30\"})")
	}
	for i, s := range w.Sessions {
		p := fmt.Sprintf("sessions[%d]", i)
		if loc == nil {
			break
		}
		start, err1 := time.ParseInLocation(SessionLayout, s.Start, loc)
		end, err2 := time.ParseInLocation(SessionLayout, s.End, loc)
		if err1 != nil {
			ps.add(p+".start", "%q is not a time like \"2026-03-10 09:00\" (in %s)", s.Start, w.TimeZone)
		}
		if err2 != nil {
			ps.add(p+".end", "%q is not a time like \"2026-03-10 12:30\" (in %s)", s.End, w.TimeZone)
		}
		if err1 != nil || err2 != nil {
			continue
		}
		if !end.After(start) {
			ps.add(p+".end", "%q is not after the start %q", s.End, s.Start)
			continue
		}
		if n := len(w.windows); n > 0 && start.Add(-w.LeadTime.D()).Before(w.windows[n-1].End) {
			ps.add(p+".start", "%q (less the lead time %s) overlaps the session before, which ends %s", s.Start, w.LeadTime, w.windows[n-1].End.Format(SessionLayout))
			continue
		}
		w.windows = append(w.windows, Window{Index: i, Start: start, End: end})
	}
	if w.Pace < 0 || w.Pace.D() > time.Minute {
		ps.add("pace", "must be from 0s to 1m")
	}
	ps.addAll("materials", w.Materials.validate())
	if w.Limits.CoresPerAttendee < 0 {
		ps.add("limits.cores_per_attendee", "must be 0 (the profile's) or more")
	}
	if w.Limits.MaxAttendees < 0 {
		ps.add("limits.max_attendees", "must be 0 (no limit) or more")
	}
	return ps
}

func (m *Materials) validate() []Problem {
	var ps problems
	if m.Copy != "" && (!path.IsAbs(m.Copy) || !reMaterialPath.MatchString(strings.TrimPrefix(m.Copy, "/")) || hasDotDot(m.Copy)) {
		ps.add("copy", "%q must be an absolute directory on the cluster, of letters, digits and _./+-", m.Copy)
	}
	if m.Git != "" && (!reGitURL.MatchString(m.Git) || hasDotDot(m.Git) || strings.HasPrefix(m.Git, "-")) {
		ps.add("git", "%q is not a repository URL (https://…, ssh://…, git@host:path or an absolute path)", m.Git)
	}
	if m.GitRef != "" && (!reGitRef.MatchString(m.GitRef) || hasDotDot(m.GitRef)) {
		ps.add("git_ref", "%q is not a branch or tag name", m.GitRef)
	}
	if m.GitRef != "" && m.Git == "" {
		ps.add("git_ref", "is the branch of git, which is not set")
	}
	if m.Into != "" && (!reMaterialPath.MatchString(m.Into) || hasDotDot(m.Into)) {
		ps.add("into", "%q must be a directory relative to the home directory, of letters, digits and _./+- (no ..)", m.Into)
	}
	return ps
}

func hasDotDot(p string) bool {
	return slices.Contains(strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == ':' }), "..")
}

// Workshop returns the workshop called name.
func (c *Config) Workshop(name string) (*Workshop, bool) {
	for i := range c.Workshops {
		if c.Workshops[i].Name == name {
			return &c.Workshops[i], true
		}
	}
	return nil, false
}

// validateWorkshops checks each workshop and that names are unique.
func (c *Config) validateWorkshops() []Problem {
	var ps problems
	for i := range c.Workshops {
		p := fmt.Sprintf("workshops[%d]", i)
		ps.addAll(p, c.Workshops[i].Validate(c))
		if j := slices.IndexFunc(c.Workshops, func(w Workshop) bool { return w.Name == c.Workshops[i].Name }); j < i {
			ps.add(p+".name", "%q is also the name of workshops[%d]", c.Workshops[i].Name, j)
		}
	}
	return ps
}

// provisionWorkshop fills in what defaults to other settings.
func (c *Config) provisionWorkshop(w *Workshop) {
	if w.Title == "" {
		w.Title = w.Name
	}
	if w.Cluster == "" && len(c.Clusters) > 0 {
		w.Cluster = c.Clusters[0].Name
	}
	if w.Materials.Into == "" {
		w.Materials.Into = w.Name
	}
}
