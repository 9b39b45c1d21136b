package web

import (
	"time"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// The user and server models are JupyterHub 3.0's, key for key
// (apihandlers/base.py user_model and server_model at 3.0.0): the same
// names, types and nulls, the same keys left out when the caller's scopes
// may not read them, and stopped servers listed only with
// ?include_stopped_servers. hpcgate's batch fields (cluster, profile, job,
// scheduler state and reason, node, walltime) live in one extra key of
// each server, "hpcgate", which JupyterHub's clients ignore; none of them
// sits beside JupyterHub's keys, where "state" in particular already means
// the spawner's state to JupyterHub's admin clients.

// serverModel is JupyterHub's server model.
type serverModel struct {
	Name         string            `json:"name"`
	LastActivity *time.Time        `json:"last_activity"`
	Started      *time.Time        `json:"started"`
	Pending      *string           `json:"pending"`
	Ready        bool              `json:"ready"`
	Stopped      bool              `json:"stopped"`
	URL          string            `json:"url"`
	UserOptions  map[string]string `json:"user_options"`
	ProgressURL  string            `json:"progress_url"`
	// State is the spawner's state, for admin:server_state only; a batch
	// spawner's, as batchspawner reports it.
	State *spawnerState `json:"state,omitempty"`
	// HPCGate is hpcgate's addition: where and how the job runs.
	HPCGate *batchFields `json:"hpcgate"`
}

// spawnerState is batchspawner's get_state().
type spawnerState struct {
	JobID     string `json:"job_id"`
	JobStatus string `json:"job_status"`
}

// batchFields are what a batch job adds to a server.
type batchFields struct {
	Cluster             string     `json:"cluster"`
	Profile             string     `json:"profile"`
	JobID               string     `json:"job_id"`
	State               string     `json:"state"`
	Node                string     `json:"node"`
	Reason              string     `json:"reason"`
	Submitted           *time.Time `json:"submitted"`
	EstimatedStart      *time.Time `json:"estimated_start"`
	WalltimeSeconds     int64      `json:"walltime_seconds"`
	WalltimeLeftSeconds int64      `json:"walltime_left_seconds"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// serverModel is info as JupyterHub shows a spawner; state is included
// when the caller holds admin:server_state on it.
func (s *Server) serverModel(info *gateway.ServerInfo, state bool) *serverModel {
	active := info.Active()
	m := &serverModel{
		Name:         info.Name,
		LastActivity: timePtr(info.LastActivity),
		Pending:      strPtr(info.Pending()),
		Ready:        info.State == gateway.StateReady,
		Stopped:      !active,
		URL:          s.serverURL(info),
		UserOptions:  gateway.UserOptions(info.Resources),
		ProgressURL:  gateway.ProgressURL(s.base, info.User, info.Name),
		HPCGate: &batchFields{
			Cluster:         info.Cluster,
			Profile:         info.Profile,
			JobID:           info.JobID,
			State:           string(info.State),
			Node:            info.Node,
			Reason:          info.Reason,
			Submitted:       timePtr(info.Submitted),
			EstimatedStart:  timePtr(info.EstimatedStart),
			WalltimeSeconds: int64(info.Resources.Walltime / time.Second),
		},
	}
	if active {
		// JupyterHub clears "started" when a server stops.
		m.Started = timePtr(info.Submitted)
		m.HPCGate.WalltimeLeftSeconds = int64(info.WalltimeLeft(s.now()) / time.Second)
	}
	if m.UserOptions == nil {
		m.UserOptions = map[string]string{}
	}
	if state {
		m.State = &spawnerState{JobID: info.JobID, JobStatus: string(info.State)}
	}
	return m
}

// userAccess is JupyterHub's access_map of the user model: which keys
// each scope lets a caller read.
var userAccess = []struct {
	scope string
	keys  []string
}{
	{"read:users", []string{"kind", "name", "admin", "roles", "groups", "server", "pending", "created", "last_activity"}},
	{"read:users:name", []string{"kind", "name", "admin"}},
	{"read:users:groups", []string{"kind", "name", "groups"}},
	{"read:users:activity", []string{"kind", "name", "last_activity"}},
	{"read:servers", []string{"kind", "name", "servers"}},
	{"read:roles:users", []string{"kind", "name", "roles", "admin"}},
	{"admin:auth_state", []string{"kind", "name", "auth_state"}},
}

// userModel is u as id may see it, with the servers in infos (the
// user's, any state): active ones, and stopped ones too with
// includeStopped. nil when id may read nothing of u.
func (s *Server) userModel(id *identity, u *gateway.User, infos []*gateway.ServerInfo, includeStopped bool) gin.H {
	roles := []string{"user"}
	if u.IsAdmin() {
		roles = append(roles, "admin")
	}
	full := gin.H{
		"kind":          "user",
		"name":          u.Name,
		"admin":         u.IsAdmin(),
		"roles":         roles,
		"groups":        u.GroupNames(),
		"server":        nil,
		"pending":       nil,
		"created":       timePtr(u.Created),
		"last_activity": timePtr(u.LastActivity),
		"auth_state":    nil, // hpcgate keeps no auth state
	}
	out := gin.H{}
	for _, a := range userAccess {
		if id.may(a.scope, u.Name) {
			for _, k := range a.keys {
				out[k] = full[k]
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	servers := map[string]*serverModel{}
	var newest *time.Time
	for _, info := range infos {
		if info.Name == "" {
			if _, ok := out["pending"]; ok {
				out["pending"] = strPtr(info.Pending())
			}
			if _, ok := out["server"]; ok && info.State == gateway.StateReady {
				out["server"] = s.serverURL(info)
			}
		}
		if la := timePtr(info.LastActivity); la != nil && (newest == nil || la.After(*newest)) {
			newest = la
		}
		if (!info.Active() && !includeStopped) || !id.Scopes.allowsServer("read:servers", u.Name, info.Name) {
			continue
		}
		servers[info.Name] = s.serverModel(info, id.Scopes.allowsServer("admin:server_state", u.Name, info.Name))
	}
	if la, ok := out["last_activity"]; ok && newest != nil {
		if cur, _ := la.(*time.Time); cur == nil || newest.After(*cur) {
			out["last_activity"] = newest
		}
	}
	if _, ok := out["servers"]; ok || len(servers) > 0 {
		out["servers"] = servers
	}
	return out
}

// includeStopped is JupyterHub's include_stopped_servers argument: present
// and not "0" or "false".
func includeStopped(c *gin.Context) bool {
	v, ok := c.GetQuery("include_stopped_servers")
	if !ok {
		return false
	}
	switch v {
	case "0", "false", "False", "FALSE":
		return false
	}
	return true
}
