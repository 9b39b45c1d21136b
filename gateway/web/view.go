package web

import (
	"net/url"
	"time"

	"hpcgate/gateway"
	"hpcgate/gateway/config"
)

// serverView is a server as the home and spawn-pending pages show it.
type serverView struct {
	ID          string // for element ids
	Title       string
	Owner, Name string
	Own         bool
	// Next is where the pending page goes once the server is ready, when
	// a link into the server started the spawn.
	Next                string
	State               gateway.ServerState
	StateLabel          string
	ClusterTitle        string
	ProfileTitle        string
	AppTitle            string // on a cluster with a catalogue
	JobID, Node         string
	Reason, ReasonText  string
	Message             string
	Active, Pending     bool
	Ready, Queued       bool
	Failed              bool
	Submitted           time.Time
	SubmittedUnix       int64
	QueuedFor           string
	Walltime            string
	HasWalltimeLeft     bool
	WalltimeLeft        string
	WalltimeLeftSeconds int64
	LastActivity        time.Time
	EstimatedStart      time.Time
	URL, ProgressURL    string
	PendingURL, StopURL string
	CancelURL, SpawnURL string
	LogTail             string
	Percent             int
	XSRF                string
}

func (s *Server) serverView(info *gateway.ServerInfo, viewer string, xsrf string) *serverView {
	now := s.now()
	v := &serverView{
		ID:           "srv-" + info.User + "-" + info.Name,
		Title:        "Default server",
		Owner:        info.User,
		Name:         info.Name,
		Own:          info.User == viewer,
		State:        info.State,
		StateLabel:   info.State.Label(),
		ClusterTitle: s.clusterTitle(info.Cluster),
		ProfileTitle: s.profileTitle(info.Cluster, info.Profile),
		AppTitle:     s.appTitle(info.Cluster, info.Resources.App),
		JobID:        info.JobID,
		Node:         info.Node,
		Reason:       info.Reason,
		Active:       info.Active(),
		Pending:      info.Pending() == "spawn",
		Ready:        info.State == gateway.StateReady,
		Queued:       info.State == gateway.StateQueued,
		Failed:       info.State == gateway.StateFailed,
		Submitted:    info.Submitted,
		LastActivity: info.LastActivity,
		URL:          s.serverURL(info),
		ProgressURL:  gateway.ProgressURL(s.base, info.User, info.Name),
		PendingURL:   s.pendingURL(info.User, info.Name),
		StopURL:      s.hubPrefix + "stop/" + url.PathEscape(info.User),
		CancelURL:    s.pendingURL(info.User, info.Name) + "/cancel",
		SpawnURL:     s.hubPrefix + "spawn",
		XSRF:         xsrf,
	}
	if info.Name != "" {
		v.Title = info.Name
		v.StopURL += "/" + url.PathEscape(info.Name)
		v.SpawnURL = s.hubPrefix + "spawn/" + url.PathEscape(info.User) + "/" + url.PathEscape(info.Name)
	}
	if !v.Own {
		v.Title = info.User + " — " + v.Title
		if info.Name == "" {
			v.SpawnURL = s.hubPrefix + "spawn/" + url.PathEscape(info.User)
		}
	}
	if info.State == gateway.StateQueued {
		v.ReasonText = s.hub.ExplainReason(info.Cluster, info.Reason)
		v.EstimatedStart = info.EstimatedStart
	}
	if !info.Submitted.IsZero() {
		v.SubmittedUnix = info.Submitted.Unix()
		end := now
		if !info.Started.IsZero() {
			end = info.Started
		} else if !v.Active && !info.Stopped.IsZero() {
			end = info.Stopped
		}
		v.QueuedFor = gateway.FormatDuration(end.Sub(info.Submitted))
	}
	if info.Resources.Walltime > 0 {
		v.Walltime = gateway.FormatDuration(info.Resources.Walltime)
	}
	if v.Active && !info.Started.IsZero() && info.Resources.Walltime > 0 {
		left := info.WalltimeLeft(now)
		v.HasWalltimeLeft = true
		v.WalltimeLeft = gateway.FormatDuration(left)
		v.WalltimeLeftSeconds = int64(left / time.Second)
	}
	v.Percent = info.State.Progress()
	return v
}

// Step tells the spawn-pending template how far along a step is: done,
// current, failed or todo. Where a failure happened is told by what was
// known when it did (pending.js has the same rules).
func (v *serverView) Step(name string) string {
	order := []string{"submitted", "queued", "running", "starting", "ready"}
	at := 0
	switch v.State {
	case gateway.StateSubmitting:
		at = 0
	case gateway.StateQueued:
		at = 1
	case gateway.StateStarting:
		at = 2
		if v.Node != "" {
			at = 3
		}
	case gateway.StateReady:
		at = 4
	default:
		switch {
		case v.Node != "":
			at = 3
		case v.JobID != "":
			at = 1
		}
	}
	i := 0
	for i < len(order) && order[i] != name {
		i++
	}
	switch {
	case i < at:
		return "done"
	case i > at:
		return "todo"
	case v.Ready:
		return "done"
	case v.State == gateway.StateFailed:
		return "failed"
	case v.State == gateway.StateStopped:
		// A server that ran (walltime, the user's stop) ended normally;
		// one stopped before it ran did not get there.
		if v.Node != "" {
			return "done"
		}
		return "failed"
	}
	return "current"
}

// Heading is the spawn-pending page's title.
func (v *serverView) Heading() string {
	whose := "Your server"
	if !v.Own {
		whose = v.Owner + "'s server"
	}
	switch v.State {
	case gateway.StateFailed:
		return whose + " could not start"
	case gateway.StateReady:
		return whose + " is ready"
	case gateway.StateStopping:
		return whose + " is stopping"
	case gateway.StateStopped:
		return whose + " is stopped"
	}
	return whose + " is starting"
}

// Summary is the one-line status under the spawn-pending title.
func (v *serverView) Summary() string {
	switch v.State {
	case gateway.StateSubmitting:
		return "Submitting the batch job…"
	case gateway.StateQueued:
		return "The job is waiting in the queue. You can leave this page; the job keeps its place."
	case gateway.StateStarting:
		return "The job is running; Jupyter is starting on the compute node."
	case gateway.StateReady:
		return "Your server is ready."
	case gateway.StateStopping:
		return "Stopping…"
	case gateway.StateFailed:
		return "The server could not be started."
	}
	return "The server is not running."
}

// serverURL is the server's /user/ URL with base_url.
func (s *Server) serverURL(info *gateway.ServerInfo) string {
	if info.URL != "" {
		return info.URL
	}
	return gateway.UserURL(s.base, info.User, info.Name)
}

// clusterTitle is a cluster's title from the site file, or its name.
func (s *Server) clusterTitle(name string) string {
	if cl, ok := s.cfg.Cluster(name); ok {
		return cl.Title
	}
	return name
}

// appTitle is the title of the app a server runs, for a cluster whose
// catalogue offers more than jupyterhub-singleuser ("" otherwise, so pages
// of sites without one look as before). A row from before the catalogue
// ran the jupyterhub app.
func (s *Server) appTitle(cluster, name string) string {
	cl, ok := s.cfg.Cluster(cluster)
	if !ok || len(cl.AppsCatalogue) == 0 {
		return ""
	}
	if name == "" {
		name = config.AppJupyterHub
	}
	if a, ok := cl.AppByName(name); ok {
		return a.Title
	}
	return name
}

// profileTitle is a profile's title from the site file, or its name.
func (s *Server) profileTitle(cluster, name string) string {
	if cl, ok := s.cfg.Cluster(cluster); ok {
		if p, ok := cl.Profile(name); ok {
			return p.Title
		}
	}
	return name
}
