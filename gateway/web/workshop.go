package web

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// Workshops is what the web layer needs of the hub's workshops
// (gateway.Hub): the attendees' launch cards, the instructors' page and
// its JSON, and the grant that lets an instructor through the /user/ gate
// to the servers of their workshop's attendees, and no one else's.
type Workshops interface {
	WorkshopCards(groups []string, now time.Time) []gateway.WorkshopCard
	InstructorOf(groups []string) []string
	InstructorGrants(groups []string) []string
	WorkshopStatus(ctx context.Context, name string) (*gateway.WorkshopStatus, error)
	StartClass(ctx context.Context, name, by string, missingOnly bool) (int, error)
	StopClass(ctx context.Context, name, by string) (int, error)
	OpenAsInstructor(ctx context.Context, name, instructor string, groups []string, attendee string) error
	NoteInstructorVisit(ctx context.Context, instructor, attendee string)
	InstructorVisits(ctx context.Context, user string) ([]*gateway.Event, error)
	WorkshopUsage(ctx context.Context, name string) ([]gateway.AttendeeUsage, error)
	SpawnWorkshop(ctx context.Context, name, user string, groups []string, by, profile string) (*gateway.ServerInfo, error)
}

// workshopGrantScopes are the access scopes an instructor holds on the
// servers of their workshops' attendees (roleScopes adds them).
func (s *Server) workshopGrantScopes(groups []string) []string {
	if s.workshops == nil || len(groups) == 0 {
		return nil
	}
	var raw []string
	for _, a := range s.workshops.InstructorGrants(groups) {
		raw = append(raw, "access:servers!user="+a)
	}
	return raw
}

// instructorOf answers 404 for a workshop the hub does not run and 403 to
// anyone not in its instructor group (hub admins included), and reports
// whether the request may go on. API requests must come from a session or
// a token that inherits its owner's rights: a server's or an OAuth token,
// which live on compute nodes, may not act for an instructor.
func (s *Server) instructorOf(c *gin.Context, api bool) (string, bool) {
	name, id := c.Param("workshop"), who(c)
	deny := func(status int, msg string) (string, bool) {
		if api {
			jsonError(c, status, msg)
		} else {
			s.errorPage(c, status, msg)
		}
		return "", false
	}
	if s.workshops == nil {
		return deny(http.StatusNotFound, "There is no workshop "+strconv.Quote(name)+".")
	}
	if id.Token != nil && !(id.Token.Kind == TokenUser && (len(id.Token.Scopes) == 0 || containsScope(id.Token.Scopes, "inherit"))) {
		return deny(http.StatusForbidden, "This token may not act for a workshop's instructor.")
	}
	if !slices.Contains(s.workshops.InstructorOf(id.Groups), name) {
		if _, err := s.workshops.WorkshopStatus(context.WithoutCancel(c.Request.Context()), name); gateway.ErrorCode(err) == gateway.ENOTFOUND {
			return deny(http.StatusNotFound, "There is no workshop "+strconv.Quote(name)+".")
		}
		s.log.WarnContext(c.Request.Context(), "refused the workshop's instructor page", "user", id.Name, "workshop", name)
		return deny(http.StatusForbidden, "Only the instructors of this workshop may see it.")
	}
	return name, true
}

type workshopPageData struct {
	Name, Title string
	Status      *gateway.WorkshopStatus
	Rows        []attendeeRow
	Phase       string
	XSRF        string
	APIURL      string
}

// attendeeRow is one attendee as the page and its JSON show them.
type attendeeRow struct {
	User         string `json:"user"`
	DisplayName  string `json:"display_name"`
	Refused      string `json:"refused,omitempty"`
	State        string `json:"state"`
	StateLabel   string `json:"state_label"`
	Reason       string `json:"reason"`
	Node         string `json:"node"`
	JobID        string `json:"job_id"`
	LastActivity string `json:"last_activity"`
	WalltimeLeft string `json:"walltime_left"`
	Workshop     bool   `json:"workshop_job"`
	OpenURL      string `json:"open_url,omitempty"`
}

func (s *Server) attendeeRows(name string, st *gateway.WorkshopStatus) []attendeeRow {
	rows := make([]attendeeRow, 0, len(st.Attendees))
	for _, a := range st.Attendees {
		r := attendeeRow{User: a.User, DisplayName: a.DisplayName, Refused: a.Refused, State: "none", StateLabel: "No server"}
		if srv := a.Server; srv != nil {
			r.State, r.StateLabel, r.Reason, r.Node, r.JobID = string(srv.State), srv.State.Label(), srv.Reason, srv.Node, srv.JobID
			if ex := s.hub.ExplainReason(srv.Cluster, srv.Reason); ex != "" && srv.State == gateway.StateQueued {
				r.Reason = ex + " (" + srv.Reason + ")"
			}
			if !srv.LastActivity.IsZero() {
				r.LastActivity = gateway.FormatDuration(s.now().Sub(srv.LastActivity).Round(time.Second)) + " ago"
			}
			if a.WalltimeLeft > 0 {
				r.WalltimeLeft = gateway.FormatDuration(a.WalltimeLeft.Round(time.Minute))
			}
			r.Workshop = a.WorkshopJob
			if srv.State == gateway.StateReady {
				r.OpenURL = s.hubPrefix + "workshops/" + url.PathEscape(name) + "/open/" + url.PathEscape(a.User)
			}
		}
		rows = append(rows, r)
	}
	return rows
}

func phaseText(st *gateway.WorkshopStatus, now time.Time) string {
	ph := st.Phase
	switch {
	case ph.Session == nil:
		return "The workshop is over."
	case ph.Open:
		return fmt.Sprintf("Session %d is open until %s.", ph.Session.Index+1, ph.Session.End.Format("2006-01-02 15:04 MST"))
	}
	return fmt.Sprintf("Session %d starts %s (in %s); servers are started %s before.", ph.Session.Index+1,
		ph.Session.Start.Format("2006-01-02 15:04 MST"), gateway.FormatDuration(ph.Session.Start.Sub(now).Round(time.Second)),
		gateway.FormatDuration(st.Workshop.LeadTime.D()))
}

// workshopPage is /hub/workshops/<name>: the roster with each attendee's
// server, live (workshop.js polls the JSON), and the class's buttons.
func (s *Server) workshopPage(c *gin.Context) {
	name, ok := s.instructorOf(c, false)
	if !ok {
		return
	}
	st, err := s.workshops.WorkshopStatus(c.Request.Context(), name)
	if err != nil {
		s.failPage(c, fmt.Errorf("workshop %s: %w", name, err))
		return
	}
	d := workshopPageData{Name: name, Title: st.Workshop.Title, Status: st, Rows: s.attendeeRows(name, st),
		Phase: phaseText(st, s.now()), XSRF: s.xsrf(c), APIURL: s.hubPrefix + "api/workshops/" + url.PathEscape(name)}
	s.render(c, http.StatusOK, "workshop.html", st.Workshop.Title, d, "workshop.js")
}

// apiWorkshop is GET /hub/api/workshops/<name>: what the page shows.
func (s *Server) apiWorkshop(c *gin.Context) {
	name, ok := s.instructorOf(c, true)
	if !ok {
		return
	}
	st, err := s.workshops.WorkshopStatus(c.Request.Context(), name)
	if err != nil {
		s.fail(c, fmt.Errorf("workshop %s: %w", name, err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"name": name, "title": st.Workshop.Title, "phase": phaseText(st, s.now()), "open": st.Phase.Open,
		"progress": st.Progress, "roster_error": st.RosterErr, "attendees": s.attendeeRows(name, st)})
}

// apiWorkshopUsage is GET /hub/api/workshops/<name>/usage: the usage
// report as JSON, or as CSV with ?format=csv.
func (s *Server) apiWorkshopUsage(c *gin.Context) {
	name, ok := s.instructorOf(c, true)
	if !ok {
		return
	}
	lines, err := s.workshops.WorkshopUsage(c.Request.Context(), name)
	if err != nil {
		s.fail(c, fmt.Errorf("usage of workshop %s: %w", name, err))
		return
	}
	if c.Query("format") != "csv" {
		c.JSON(http.StatusOK, gin.H{"workshop": name, "attendees": lines})
		return
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="`+name+`-usage.csv"`)
	w := csv.NewWriter(c.Writer)
	w.Write([]string{"attendee", "sessions", "jobs", "queued_seconds", "running_seconds", "core_hours"})
	for _, l := range lines {
		w.Write([]string{l.User, strconv.Itoa(l.Sessions), strconv.Itoa(l.Jobs), strconv.FormatInt(l.QueuedSeconds, 10),
			strconv.FormatInt(l.RunningSeconds, 10), strconv.FormatFloat(l.CoreHours, 'f', 3, 64)})
	}
	w.Flush()
}

// workshopStart starts the class: every attendee without an active
// server, or (which=missing) those who had none this session.
func (s *Server) workshopStart(c *gin.Context) {
	name, ok := s.instructorOf(c, false)
	if !ok {
		return
	}
	n, err := s.workshops.StartClass(c.Request.Context(), name, who(c).Name, c.PostForm("which") == "missing")
	if err != nil {
		s.failPage(c, fmt.Errorf("start workshop %s: %w", name, err))
		return
	}
	s.log.InfoContext(c.Request.Context(), "workshop class start requested", "user", who(c).Name, "workshop", name, "servers", n)
	c.Redirect(http.StatusSeeOther, s.hubPrefix+"workshops/"+url.PathEscape(name))
}

// workshopStop stops the servers the workshop started.
func (s *Server) workshopStop(c *gin.Context) {
	name, ok := s.instructorOf(c, false)
	if !ok {
		return
	}
	n, err := s.workshops.StopClass(c.Request.Context(), name, who(c).Name)
	if err != nil {
		s.failPage(c, fmt.Errorf("stop workshop %s: %w", name, err))
		return
	}
	s.log.InfoContext(c.Request.Context(), "workshop class stop requested", "user", who(c).Name, "workshop", name, "servers", n)
	c.Redirect(http.StatusSeeOther, s.hubPrefix+"workshops/"+url.PathEscape(name))
}

// workshopOpen records that the instructor opens an attendee's server
// (the attendee sees it on their home page) and sends them there.
func (s *Server) workshopOpen(c *gin.Context) {
	name, ok := s.instructorOf(c, false)
	if !ok {
		return
	}
	id, attendee := who(c), c.Param("user")
	if err := s.workshops.OpenAsInstructor(c.Request.Context(), name, id.Name, id.Groups, attendee); err != nil {
		s.failPage(c, fmt.Errorf("open %s's server as instructor of %s: %w", attendee, name, err))
		return
	}
	c.Redirect(http.StatusSeeOther, gateway.UserURL(s.base, attendee, ""))
}

// workshopOpenLink answers an old "open" link (a bookmark, a link from
// before it became a form) with the workshop's page, recording nothing.
func (s *Server) workshopOpenLink(c *gin.Context) {
	c.Redirect(http.StatusSeeOther, s.hubPrefix+"workshops/"+url.PathEscape(c.Param("workshop")))
}

// workshopSpawn is an attendee's launch button: their server for the
// workshop, with its reservation, only while a session is open.
func (s *Server) workshopSpawn(c *gin.Context) {
	id, name := who(c), c.Param("workshop")
	if s.workshops == nil {
		s.errorPage(c, http.StatusNotFound, "There is no workshop "+strconv.Quote(name)+".")
		return
	}
	_, err := s.workshops.SpawnWorkshop(c.Request.Context(), name, id.Name, id.Groups, id.Name, c.PostForm("profile"))
	if err != nil {
		s.failPage(c, fmt.Errorf("spawn for workshop %s: %w", name, err))
		return
	}
	c.Redirect(http.StatusSeeOther, s.hubPrefix+"spawn-pending/"+url.PathEscape(id.Name))
}

// workshopCardView is an attendee's launch card.
type workshopCardView struct {
	gateway.WorkshopCard
	Countdown  string
	StartsAt   string
	EndsAt     string
	StartsUnix int64
}

// homeWorkshops are the launch cards and instructor visits of the viewer.
func (s *Server) homeWorkshops(c *gin.Context, id *identity) ([]workshopCardView, []string, []*gateway.Event) {
	if s.workshops == nil {
		return nil, nil, nil
	}
	now := s.now()
	var cards []workshopCardView
	for _, w := range s.workshops.WorkshopCards(id.Groups, now) {
		v := workshopCardView{WorkshopCard: w, Countdown: w.Countdown(now)}
		if !w.Start.IsZero() {
			v.StartsAt, v.EndsAt, v.StartsUnix = w.Start.Format("Mon 2006-01-02 15:04 MST"), w.End.Format("15:04 MST"), w.Start.Unix()
		}
		cards = append(cards, v)
	}
	visits, err := s.workshops.InstructorVisits(c.Request.Context(), id.Name)
	if err != nil {
		s.log.WarnContext(c.Request.Context(), "list instructor visits", "user", id.Name, "err", err)
	}
	return cards, s.workshops.InstructorOf(id.Groups), visits
}
