package web

import (
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// adminServerModel is one row of GET /hub/api/admin/servers: the user
// and one of their servers (null when they have none), with the same
// durations the admin page shows, in seconds.
type adminServerModel struct {
	User         string           `json:"user"`
	Admin        bool             `json:"admin"`
	LastLogin    *time.Time       `json:"last_login"`
	LastActivity *time.Time       `json:"last_activity"`
	Server       *adminServerInfo `json:"server"`
}

type adminServerInfo struct {
	Name                string            `json:"name"`
	Cluster             string            `json:"cluster"`
	Profile             string            `json:"profile"`
	JobID               string            `json:"job_id"`
	State               string            `json:"state"`
	EndedByWalltime     bool              `json:"ended_by_walltime"`
	Reason              string            `json:"reason"`
	ReasonText          string            `json:"reason_text,omitempty"`
	Node                string            `json:"node"`
	Submitted           *time.Time        `json:"submitted"`
	Started             *time.Time        `json:"started"`
	Stopped             *time.Time        `json:"stopped"`
	LastActivity        *time.Time        `json:"last_activity"`
	QueuedSeconds       *int64            `json:"queued_seconds"`
	RunningSeconds      *int64            `json:"running_seconds"`
	WalltimeSeconds     int64             `json:"walltime_seconds"`
	WalltimeLeftSeconds *int64            `json:"walltime_left_seconds"`
	Options             map[string]string `json:"user_options"`
	URL                 string            `json:"url"`
}

// apiAdminServers is GET /hub/api/admin/servers?cluster=&state=&user=:
// the admin page's rows as JSON.
func (s *Server) apiAdminServers(c *gin.Context) {
	f, err := parseAdminFilter(c.Request.URL.Query())
	if err != nil {
		s.fail(c, err)
		return
	}
	all, err := s.adminRows(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	now := s.now()
	out := []adminServerModel{}
	for _, r := range f.apply(all) {
		m := adminServerModel{
			User: r.User.Name, Admin: r.User.IsAdmin(),
			LastLogin: timePtr(r.User.LastLogin), LastActivity: timePtr(r.User.LastActivity),
		}
		if info := r.Server; info != nil {
			m.Server = s.adminServerInfo(info, now)
		}
		out = append(out, m)
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) adminServerInfo(info *gateway.ServerInfo, now time.Time) *adminServerInfo {
	t := timesOf(info, now)
	m := &adminServerInfo{
		Name: info.Name, Cluster: info.Cluster, Profile: info.Profile, JobID: info.JobID, State: string(info.State),
		EndedByWalltime: endedByWalltime(info.State, info.Reason),
		Reason:          info.Reason, Node: info.Node,
		Submitted: timePtr(info.Submitted), Started: timePtr(info.Started), Stopped: timePtr(info.Stopped),
		LastActivity:    timePtr(info.LastActivity),
		WalltimeSeconds: int64(info.Resources.Walltime / time.Second),
		Options:         gateway.UserOptions(info.Resources),
		URL:             s.serverURL(info),
	}
	if m.Options == nil {
		m.Options = map[string]string{}
	}
	if info.State == gateway.StateQueued {
		m.ReasonText = s.hub.ExplainReason(info.Cluster, info.Reason)
	}
	secs := func(d time.Duration) *int64 { v := int64(d / time.Second); return &v }
	if t.HasQueued {
		m.QueuedSeconds = secs(t.Queued)
	}
	if t.HasRunning {
		m.RunningSeconds = secs(t.Running)
	}
	if t.HasWalltimeLeft {
		m.WalltimeLeftSeconds = secs(t.WalltimeLeft)
	}
	return m
}

// clusterModel is one cluster of GET /hub/api/clusters.
type clusterModel struct {
	Name                string   `json:"name"`
	Title               string   `json:"title"`
	Scheduler           string   `json:"scheduler"`
	PollIntervalSeconds int64    `json:"poll_interval_seconds"`
	Profiles            []string `json:"profiles"`
	QueueURL            string   `json:"queue_url"`
	QueueWaitsURL       string   `json:"queue_waits_url"`
}

// apiClusters is GET /hub/api/clusters. It does not touch the queues:
// listing clusters must not make every poller start reading them.
func (s *Server) apiClusters(c *gin.Context) {
	out := []clusterModel{}
	for _, cl := range s.hub.Clusters() {
		m := clusterModel{
			Name: cl.Name, Title: cl.Title, Scheduler: cl.Scheduler,
			PollIntervalSeconds: int64(cl.PollInterval.D() / time.Second),
			Profiles:            []string{},
			QueueURL:            s.hubPrefix + "api/clusters/" + url.PathEscape(cl.Name) + "/queue",
			QueueWaitsURL:       s.hubPrefix + "api/clusters/" + url.PathEscape(cl.Name) + "/queue-waits",
		}
		for _, p := range cl.Profiles {
			m.Profiles = append(m.Profiles, p.Name)
		}
		out = append(out, m)
	}
	c.JSON(http.StatusOK, out)
}
