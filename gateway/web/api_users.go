package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// groupNames shows directory groups by name (cn=hpc-users,ou=… →
// hpc-users), as JupyterHub's groups are names.
func groupNames(groups []string) []string {
	out := make([]string, 0, len(groups))
	for _, g := range groups {
		out = append(out, gateway.GroupName(g))
	}
	return out
}

// userServers loads a user and their servers (any state).
func (s *Server) userServers(ctx context.Context, name string) (*gateway.User, []*gateway.ServerInfo, error) {
	u, err := s.store.GetUser(ctx, name)
	if err != nil {
		return nil, nil, fmt.Errorf("look up user %s: %w", name, err)
	}
	// Every server of the user: the default one and the named ones.
	infos, err := s.hub.ServersOf(ctx, []string{name})
	if err != nil {
		return nil, nil, fmt.Errorf("list the servers of %s: %w", name, err)
	}
	return u, infos, nil
}

// apiUser is GET /hub/api/users/<name>: yourself, or anyone for admins.
func (s *Server) apiUser(c *gin.Context) {
	user := c.Param("user")
	u, infos, err := s.userServers(c.Request.Context(), user)
	if err != nil {
		if isNotFound(err) {
			jsonError(c, http.StatusNotFound, "No such user: "+user)
			return
		}
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, s.userModel(who(c), u, infos, includeStopped(c)))
}

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
	p, ok := pageOf(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	if id := who(c); id != nil && slices.ContainsFunc(userAccess, func(a userAccessRow) bool {
		return id.Scopes.allowsAll(a.scope)
	}) {
		// The caller sees every user (an admin): the page comes from the
		// database, and its cost follows the page, not the table.
		s.apiUsersPage(c, id, state, p)
		return
	}
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		s.fail(c, fmt.Errorf("list users: %w", err))
		return
	}
	infos, err := s.hub.Servers(ctx)
	if err != nil {
		s.fail(c, fmt.Errorf("list servers: %w", err))
		return
	}
	byUser := map[string][]*gateway.ServerInfo{}
	for _, info := range infos {
		keep := state == "" || state == "inactive" ||
			(state == "active" && info.Active()) || (state == "ready" && info.State == gateway.StateReady)
		if keep {
			byUser[info.User] = append(byUser[info.User], info)
		}
	}
	// JupyterHub lists users in the order they were created, and
	// name_filter matches anywhere in the name, ignoring case.
	sort.SliceStable(users, func(i, j int) bool { return users[i].Created.Before(users[j].Created) })
	nameFilter := c.Query("name_filter")
	id, stopped := who(c), includeStopped(c)
	var models userList
	for _, u := range users {
		if nameFilter != "" && !strings.Contains(strings.ToLower(u.Name), strings.ToLower(nameFilter)) {
			continue
		}
		if !id.may("list:users", u.Name) {
			continue // list:users filtered (by user or group) lists only what it covers
		}
		servers := byUser[u.Name]
		active := false
		for _, info := range servers {
			active = active || info.Active()
		}
		switch {
		case state == "inactive" && active, (state == "active" || state == "ready") && !active:
			continue
		}
		if m := s.userModel(id, u, servers, stopped); m != nil {
			models = append(models, m)
		}
	}
	total := len(models)
	from, to := p.bounds(total)
	p.write(c, models[from:to], total)
}

// apiUsersPage is apiUsers for a caller who may see every user: one page
// of users read from the database, in JupyterHub's order and with its
// filters (ListUsersPage), and the servers of that page in one query.
func (s *Server) apiUsersPage(c *gin.Context, id *identity, state string, p listPage) {
	ctx := c.Request.Context()
	users, total, err := s.store.ListUsersPage(ctx, gateway.UserQuery{
		NameContains: c.Query("name_filter"), Activity: state, Offset: p.offset, Limit: p.limit})
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
	stopped := includeStopped(c)
	page := make(userList, 0, len(users))
	for _, u := range users {
		page = append(page, s.userModel(id, u, byUser[u.Name], stopped))
	}
	p.write(c, page, total)
}
