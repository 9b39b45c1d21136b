package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// userModel is JupyterHub's user model (apihandlers/base.py user_model).
type userModel struct {
	Kind         string                  `json:"kind"`
	Name         string                  `json:"name"`
	Admin        bool                    `json:"admin"`
	Roles        []string                `json:"roles"`
	Groups       []string                `json:"groups"`
	Server       *string                 `json:"server"`
	Pending      *string                 `json:"pending"`
	Created      *time.Time              `json:"created"`
	LastActivity *time.Time              `json:"last_activity"`
	Servers      map[string]*serverModel `json:"servers,omitempty"`
	Scopes       []string                `json:"scopes,omitempty"`
	SessionID    *string                 `json:"session_id"`
}

// serverModel is JupyterHub's server model plus hpcgate's batch fields.
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

func (s *Server) serverModel(info *gateway.ServerInfo) *serverModel {
	m := &serverModel{
		Name:            info.Name,
		LastActivity:    timePtr(info.LastActivity),
		Started:         timePtr(info.Submitted),
		Pending:         strPtr(info.Pending()),
		Ready:           info.State == gateway.StateReady,
		Stopped:         !info.Active(),
		URL:             s.serverURL(info),
		UserOptions:     gateway.UserOptions(info.Resources),
		ProgressURL:     s.hubPrefix + "api/users/" + url.PathEscape(info.User) + "/server/progress",
		Cluster:         info.Cluster,
		Profile:         info.Profile,
		JobID:           info.JobID,
		State:           string(info.State),
		Node:            info.Node,
		Reason:          info.Reason,
		Submitted:       timePtr(info.Submitted),
		EstimatedStart:  timePtr(info.EstimatedStart),
		WalltimeSeconds: int64(info.Resources.Walltime / time.Second),
	}
	if m.UserOptions == nil {
		m.UserOptions = map[string]string{}
	}
	if info.Active() {
		m.WalltimeLeftSeconds = int64(info.WalltimeLeft(s.now()) / time.Second)
	}
	return m
}

// fillServers puts the user's servers in the model the way JupyterHub
// does: all of them in servers, the default one's URL in server while it
// is ready, and its pending action in pending.
func (s *Server) fillServers(m *userModel, infos []*gateway.ServerInfo) {
	m.Servers = map[string]*serverModel{}
	for _, info := range infos {
		sm := s.serverModel(info)
		m.Servers[info.Name] = sm
		if info.Name == "" {
			if sm.Ready {
				m.Server = &sm.URL
			}
			m.Pending = sm.Pending
		}
		if la := sm.LastActivity; la != nil && (m.LastActivity == nil || la.After(*m.LastActivity)) {
			m.LastActivity = la
		}
	}
}

func newUserModel(name string, admin bool, groups []string, created time.Time) *userModel {
	roles := []string{"user"}
	if admin {
		roles = append(roles, "admin")
	}
	if groups == nil {
		groups = []string{}
	}
	return &userModel{Kind: "user", Name: name, Admin: admin, Roles: roles, Groups: groupNames(groups), Created: timePtr(created)}
}

// userModel builds one user's model with their default server.
func (s *Server) userModel(c *gin.Context, name string, admin bool, groups []string) (*userModel, error) {
	ctx := c.Request.Context()
	u, err := s.store.GetUser(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("look up user %s: %w", name, err)
	}
	m := newUserModel(u.Name, u.Admin, u.Groups, u.Created)
	var infos []*gateway.ServerInfo
	info, err := s.hub.Server(ctx, name, "")
	switch {
	case err == nil:
		infos = append(infos, info)
	case gateway.ErrorCode(err) != gateway.ENOTFOUND:
		return nil, err
	}
	s.fillServers(m, infos)
	return m, nil
}

// groupNames shows directory groups by name (cn=hpc-users,ou=… →
// hpc-users), as JupyterHub's groups are names.
func groupNames(groups []string) []string {
	out := make([]string, 0, len(groups))
	for _, g := range groups {
		first, _, _ := strings.Cut(g, ",")
		if k, v, ok := strings.Cut(first, "="); ok && strings.TrimSpace(k) != "" {
			g = strings.TrimSpace(v)
		}
		out = append(out, g)
	}
	return out
}

// apiUser is GET /hub/api/users/<name>: yourself, or anyone for admins.
func (s *Server) apiUser(c *gin.Context) {
	user := c.Param("user")
	m, err := s.userModel(c, user, false, nil)
	if err != nil {
		if isNotFound(err) {
			jsonError(c, http.StatusNotFound, "No such user: "+user)
			return
		}
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, m)
}

// paginationType is the Accept type that opts into JupyterHub's paginated
// list shape.
const paginationType = "application/jupyterhub-pagination+json"

// Page sizes, JupyterHub's defaults.
const (
	defaultPageLimit = 200
	maxPageLimit     = 200
)

// apiUsers is GET /hub/api/users (admins): every user with their servers,
// filtered by state=active|ready|inactive and name_filter, paginated on
// request.
func (s *Server) apiUsers(c *gin.Context) {
	state := c.Query("state")
	switch state {
	case "", "active", "ready", "inactive":
	default:
		jsonError(c, http.StatusBadRequest, "Unrecognized state filter: "+strconv.Quote(state)+"; use active, ready or inactive")
		return
	}
	offset, err1 := queryInt(c, "offset", 0)
	limit, err2 := queryInt(c, "limit", defaultPageLimit)
	if err1 != nil || err2 != nil || offset < 0 || limit < 0 {
		jsonError(c, http.StatusBadRequest, "offset and limit must be non-negative integers")
		return
	}
	if limit == 0 || limit > maxPageLimit {
		limit = maxPageLimit
	}
	// One page of users from the database and the servers of that page:
	// the cost follows the page, not the number of users.
	ctx := c.Request.Context()
	users, total, err := s.store.ListUsersPage(ctx, gateway.UserQuery{
		NamePrefix: c.Query("name_filter"), Activity: state, Offset: offset, Limit: limit})
	if err != nil {
		s.fail(c, fmt.Errorf("list users: %w", err))
		return
	}
	var infos []*gateway.ServerInfo
	if state != "inactive" { // inactive users are listed without servers
		names := make([]string, len(users))
		for i, u := range users {
			names[i] = u.Name
		}
		var states []gateway.ServerState
		switch state {
		case "active":
			states = gateway.ActiveStates
		case "ready":
			states = []gateway.ServerState{gateway.StateReady}
		}
		if infos, err = s.hub.ServersOf(ctx, names, states...); err != nil {
			s.fail(c, fmt.Errorf("list servers: %w", err))
			return
		}
	}
	byUser := map[string][]*gateway.ServerInfo{}
	for _, info := range infos {
		byUser[info.User] = append(byUser[info.User], info)
	}
	page := make([]*userModel, 0, len(users))
	for _, u := range users {
		m := newUserModel(u.Name, u.Admin, u.Groups, u.Created)
		s.fillServers(m, byUser[u.Name])
		page = append(page, m)
	}
	if !strings.Contains(c.GetHeader("Accept"), paginationType) {
		c.JSON(http.StatusOK, page)
		return
	}
	var next any
	if offset+limit < total {
		q := c.Request.URL.Query()
		q.Set("offset", strconv.Itoa(offset+limit))
		q.Set("limit", strconv.Itoa(limit))
		next = gin.H{"offset": offset + limit, "limit": limit, "url": s.hubPrefix + "api/users?" + q.Encode()}
	}
	body, err := json.Marshal(gin.H{
		"items":       page,
		"_pagination": gin.H{"offset": offset, "limit": limit, "total": total, "next": next},
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Data(http.StatusOK, paginationType, body)
}

func queryInt(c *gin.Context, key string, def int) (int, error) {
	v := c.Query(key)
	if v == "" {
		return def, nil
	}
	return strconv.Atoi(v)
}
