package web

import (
	"slices"
	"strings"
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

// userKeys is a set of the user model's keys, one bit each, in the order
// the model is written.
type userKeys uint16

const (
	keyKind userKeys = 1 << iota
	keyName
	keyAdmin
	keyRoles
	keyGroups
	keyServer
	keyPending
	keyCreated
	keyLastActivity
	keyAuthState
	keyServers
)

// userAccess is JupyterHub's access_map of the user model: which keys
// each scope lets a caller read.
var userAccess = []userAccessRow{
	{"read:users", keyKind | keyName | keyAdmin | keyRoles | keyGroups | keyServer | keyPending | keyCreated | keyLastActivity},
	{"read:users:name", keyKind | keyName | keyAdmin},
	{"read:users:groups", keyKind | keyName | keyGroups},
	{"read:users:activity", keyKind | keyName | keyLastActivity},
	{"read:servers", keyKind | keyName | keyServers},
	{"read:roles:users", keyKind | keyName | keyRoles | keyAdmin},
	{"admin:auth_state", keyKind | keyName | keyAuthState},
}

type userAccessRow struct {
	scope string
	keys  userKeys
}

// userModel is JupyterHub's user model: the keys in keys are written
// (modeljson.go), the others left out, as JupyterHub drops the keys a
// caller's scopes may not read. A struct rather than a map, so that a
// list of 200 users is written without sorting keys or reflecting over
// interface values.
type userModel struct {
	keys         userKeys
	Name         string
	Admin        bool
	Groups       []string
	Server       *string // the default server's URL when it is ready
	Pending      *string
	Created      *time.Time
	LastActivity *time.Time
	// Servers are sorted by name (a JSON object's keys, as encoding/json
	// writes a map's); each name once.
	Servers []*serverModel
	// self holds /hub/api/user's own keys; nil elsewhere.
	self *selfKeys
}

// selfKeys are what GET /hub/api/user adds to its caller's model.
type selfKeys struct {
	Scopes    []string
	SessionID *string
}

// userModel is u as id may see it, with the servers in infos (the
// user's, any state): active ones, and stopped ones too with
// includeStopped. nil when id may read nothing of u.
func (s *Server) userModel(id *identity, u *gateway.User, infos []*gateway.ServerInfo, includeStopped bool) *userModel {
	var keys userKeys
	for _, a := range userAccess {
		if keys&a.keys != a.keys && id.may(a.scope, u.Name) {
			keys |= a.keys
		}
	}
	if keys == 0 {
		return nil
	}
	m := &userModel{keys: keys, Name: u.Name, Admin: u.IsAdmin()}
	if keys&keyGroups != 0 {
		m.Groups = u.GroupNames()
	}
	if keys&keyCreated != 0 {
		m.Created = timePtr(u.Created)
	}
	if keys&keyLastActivity != 0 {
		m.LastActivity = timePtr(u.LastActivity)
	}
	var newest time.Time
	for _, info := range infos {
		if info.Name == "" {
			if keys&keyPending != 0 {
				m.Pending = strPtr(info.Pending())
			}
			if keys&keyServer != 0 && info.State == gateway.StateReady {
				url := s.serverURL(info)
				m.Server = &url
			}
		}
		if la := info.LastActivity; !la.IsZero() && la.After(newest) {
			newest = la
		}
		if (!info.Active() && !includeStopped) || !id.Scopes.allowsServer("read:servers", u.Name, info.Name) {
			continue
		}
		m.Servers = append(m.Servers, s.serverModel(info, id.Scopes.allowsServer("admin:server_state", u.Name, info.Name)))
	}
	if keys&keyLastActivity != 0 && !newest.IsZero() && (m.LastActivity == nil || newest.After(*m.LastActivity)) {
		m.LastActivity = timePtr(newest)
	}
	if len(m.Servers) > 0 {
		// A server readable on its own shows even where the user's
		// servers key is not granted, as in JupyterHub.
		m.keys |= keyServers
		m.Servers = byServerName(m.Servers)
	}
	return m
}

// byServerName sorts servers by name, keeping the last of any name given
// twice (as a map would).
func byServerName(servers []*serverModel) []*serverModel {
	slices.SortStableFunc(servers, func(a, b *serverModel) int { return strings.Compare(a.Name, b.Name) })
	out := servers[:0]
	for i, sv := range servers {
		if i+1 < len(servers) && servers[i+1].Name == sv.Name {
			continue
		}
		out = append(out, sv)
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
