package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// adminRowView is one row of the admin table. Durations are rendered here
// and carry the Unix time they count from, so hpcgate.js keeps them
// ticking without asking the hub again.
type adminRowView struct {
	User      string
	Admin     bool
	HasServer bool

	ServerName          string
	ClusterTitle        string
	ProfileTitle        string
	AppTitle            string // "" on a cluster without a catalogue
	JobID, Node         string
	State, StateLabel   string
	ReasonText, Reason  string
	Queued, Running     string
	QueuedSince         int64
	RunningSince        int64
	HasWalltimeLeft     bool
	WalltimeLeft        string
	WalltimeLeftSeconds int64
	LastActivity        time.Time

	Active, Stopping bool
	ActionLabel      string
	StopURL          string
	SpawnURL         string
}

type adminClusterView struct {
	Name, Title, Scheduler string
	QueueURL               string
	Selected               bool
}

type adminProfileOption struct {
	Value, Label string
	OnlyFor      string // the groups a restricted profile is open to
}

type adminStateOption struct {
	Value, Label string
	Selected     bool
}

// adminSummary counts every server the hub knows, before filtering.
type adminSummary struct {
	Users, Active, Queued, Running, Failed int
}

type adminData struct {
	Flash    *flash
	Filter   adminFilter
	Back     string // the filter's query string, for the action forms
	Filtered bool
	States   []adminStateOption
	Clusters []adminClusterView
	Profiles []adminProfileOption
	Rows     []adminRowView
	Shown    int
	Total    int
	Summary  adminSummary
}

// adminPage is /hub/admin.
func (s *Server) adminPage(c *gin.Context) {
	f, err := parseAdminFilter(c.Request.URL.Query())
	if err != nil {
		s.failPage(c, err)
		return
	}
	all, err := s.adminRows(c.Request.Context())
	if err != nil {
		s.failPage(c, err)
		return
	}
	rows := f.apply(all)
	d := adminData{
		Flash:    s.takeFlash(c),
		Filter:   f,
		Back:     f.query(),
		Filtered: f != adminFilter{},
		Shown:    len(rows),
		Total:    len(all),
		Summary:  summarize(all),
	}
	for _, st := range adminStates {
		label := gateway.ServerState(st).Label()
		switch st {
		case "active":
			label = "Active (any)"
		case "inactive":
			label = "No active server"
		}
		d.States = append(d.States, adminStateOption{Value: st, Label: label, Selected: st == f.State})
	}
	for _, cl := range s.hub.Clusters() {
		d.Clusters = append(d.Clusters, adminClusterView{
			Name: cl.Name, Title: cl.Title, Scheduler: cl.Scheduler,
			QueueURL: s.adminPath() + "/queue/" + url.PathEscape(cl.Name), Selected: cl.Name == f.Cluster,
		})
		for _, p := range cl.Profiles {
			d.Profiles = append(d.Profiles, adminProfileOption{
				Value: profileKey(cl.Name, p.Name), Label: cl.Title + " — " + p.Title,
				OnlyFor: strings.Join(groupNames(p.AllowedGroups), ", "),
			})
		}
	}
	now := s.now()
	for _, r := range rows {
		d.Rows = append(d.Rows, s.adminRowView(r, now))
	}
	s.render(c, http.StatusOK, "admin.html", "Admin", d, "admin.js")
}

func summarize(rows []adminRow) adminSummary {
	var sum adminSummary
	users := map[string]bool{}
	for _, r := range rows {
		users[r.User.Name] = true
		if r.Server == nil {
			continue
		}
		switch r.Server.State {
		case gateway.StateSubmitting, gateway.StateQueued:
			sum.Queued++
		case gateway.StateStarting, gateway.StateReady:
			sum.Running++
		case gateway.StateFailed:
			sum.Failed++
		}
		if r.Server.Active() {
			sum.Active++
		}
	}
	sum.Users = len(users)
	return sum
}

func (s *Server) adminRowView(r adminRow, now time.Time) adminRowView {
	v := adminRowView{
		User:         r.User.Name,
		Admin:        r.User.IsAdmin(),
		LastActivity: r.User.LastActivity,
		SpawnURL:     s.hubPrefix + "spawn/" + url.PathEscape(r.User.Name),
	}
	info := r.Server
	if info == nil {
		return v
	}
	t := timesOf(info, now)
	v.HasServer = true
	v.ServerName = info.Name
	v.ClusterTitle = s.clusterTitle(info.Cluster)
	v.ProfileTitle = s.profileTitle(info.Cluster, info.Profile)
	v.AppTitle = s.appTitle(info.Cluster, info.Resources.App)
	v.JobID, v.Node = info.JobID, info.Node
	v.State, v.StateLabel = string(info.State), adminStateLabel(info)
	v.Active, v.Stopping = info.Active(), info.State == gateway.StateStopping
	v.ActionLabel = stopLabel(info.State)
	v.StopURL = s.adminStopURL(info.User, info.Name)
	if info.Name != "" {
		v.SpawnURL += "/" + url.PathEscape(info.Name)
	}
	if !info.LastActivity.IsZero() {
		v.LastActivity = info.LastActivity
	}
	if info.State == gateway.StateQueued {
		v.ReasonText, v.Reason = s.hub.ExplainReason(info.Cluster, info.Reason), info.Reason
	} else {
		// A failure's reason may end with the job log's tail; the table
		// shows its first line (the spawn-pending page has the rest).
		v.ReasonText = firstLine(info.Reason)
	}
	if t.HasQueued {
		v.Queued, v.QueuedSince = gateway.FormatDuration(t.Queued), t.QueuedSince
	}
	if t.HasRunning {
		v.Running, v.RunningSince = gateway.FormatDuration(t.Running), t.RunningSince
	}
	if t.HasWalltimeLeft {
		v.HasWalltimeLeft = true
		v.WalltimeLeft = gateway.FormatDuration(t.WalltimeLeft)
		v.WalltimeLeftSeconds = int64(t.WalltimeLeft / time.Second)
	}
	return v
}

// firstLine is s up to its first line break, at most 200 characters.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if r := []rune(s); len(r) > 200 {
		s = string(r[:199]) + "…"
	}
	return strings.TrimSpace(s)
}

// String describes the filter for the page ("state queued, user al").
func (f adminFilter) String() string {
	var parts []string
	if f.Cluster != "" {
		parts = append(parts, "cluster "+f.Cluster)
	}
	if f.State != "" {
		parts = append(parts, "state "+f.State)
	}
	if f.User != "" {
		parts = append(parts, fmt.Sprintf("user %q", f.User))
	}
	return strings.Join(parts, ", ")
}
