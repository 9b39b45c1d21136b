package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// The groups API is JupyterHub 3.0's (apihandlers/groups.py): GET
// /groups (list:groups, paginated), GET|POST|DELETE /groups/<g>,
// POST|DELETE /groups/<g>/users with {"users": [...]}, and POST /groups
// with {"groups": [...], "users": [...]} to create several at once. Its
// groups are of two kinds (gateway/group.go): hub groups, which admins
// manage here, and directory groups, which LDAP manages: they are listed
// and read like the others, and every change to one is refused with 400
// naming LDAP, the way JupyterHub refuses changes to groups its
// authenticator manages.

// groupModel is g as id may see it (base.py group_model), with hpcgate's
// addition "hpcgate": where the group comes from, and the directory
// groups' DNs behind a directory group's name.
func (s *Server) groupModel(id *identity, g *gateway.Group) gin.H {
	source, dns := "hub", []string{}
	if g.Directory {
		source, dns = "directory", g.DNs
	}
	full := gin.H{
		"kind":    "group",
		"name":    g.Name,
		"roles":   []string{}, // hpcgate assigns no roles to groups
		"users":   g.Users,
		"hpcgate": gin.H{"source": source, "dns": dns},
	}
	access := []struct {
		scope string
		keys  []string
	}{
		{"read:groups", []string{"kind", "name", "users", "hpcgate"}},
		{"read:groups:name", []string{"kind", "name"}},
		{"read:roles:groups", []string{"kind", "name", "roles"}},
	}
	out := gin.H{}
	for _, a := range access {
		if id != nil && id.Scopes.allowsGroup(a.scope, g.Name) {
			for _, k := range a.keys {
				out[k] = full[k]
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// directoryManaged answers 400 for a change to a directory group.
func directoryManaged(c *gin.Context, g *gateway.Group) {
	jsonError(c, http.StatusBadRequest, fmt.Sprintf("Group %s is managed by the directory (LDAP group %s): "+
		"change it in LDAP; the hub reads its members at each login and rights refresh", g.Name, strings.Join(g.DNs, ", ")))
}

// apiGroups is GET /hub/api/groups: hub groups in the order they were
// created, then directory groups by name; a caller holding list:groups
// only on some groups sees those.
func (s *Server) apiGroups(c *gin.Context) {
	id := who(c)
	f := id.Scopes["list:groups"]
	if f != nil && (len(f.users) > 0 || len(f.servers) > 0) {
		// The only filter that applies to groups is !group=; JupyterHub
		// refuses the others rather than read them as "all".
		jsonError(c, http.StatusForbidden, "Action is not authorized with current scopes; list:groups is filtered by something other than groups")
		return
	}
	p, ok := pageOf(c)
	if !ok {
		return
	}
	groups, err := s.store.ListGroups(c.Request.Context())
	if err != nil {
		s.fail(c, fmt.Errorf("list groups: %w", err))
		return
	}
	models := []gin.H{}
	for _, g := range groups {
		if !id.Scopes.allowsGroup("list:groups", g.Name) {
			continue
		}
		if m := s.groupModel(id, g); m != nil {
			models = append(models, m)
		}
	}
	from, to := p.bounds(len(models))
	p.write(c, models[from:to], len(models))
}

// apiGroup is GET /hub/api/groups/<g>.
func (s *Server) apiGroup(c *gin.Context) {
	name := c.Param("group")
	g, err := s.store.GetGroup(c.Request.Context(), name)
	if err != nil {
		s.groupFail(c, name, err)
		return
	}
	c.JSON(http.StatusOK, s.groupModel(who(c), g))
}

func (s *Server) groupFail(c *gin.Context, name string, err error) {
	switch {
	case isNotFound(err):
		jsonError(c, http.StatusNotFound, "No such group: "+name)
	case gateway.ErrorCode(err) == gateway.ENOTFOUND:
		jsonError(c, http.StatusBadRequest, gateway.ErrorMessage(err)) // a member who is not a user
	case gateway.ErrorCode(err) == gateway.ECONFLICT:
		jsonError(c, http.StatusConflict, gateway.ErrorMessage(err))
	default:
		s.fail(c, fmt.Errorf("group %s: %w", name, err))
	}
}

// groupBody is a request's group model: {"users": [...]} and, for the
// bulk create, {"groups": [...]} (base.py _check_group_model: no other
// keys, each of the right type). roles cannot be given here.
type groupBody struct {
	Users  []string
	Groups []string
	has    map[string]bool
}

// readGroupBody decodes and checks a group model, or answers 400.
func readGroupBody(c *gin.Context, allowGroups bool) (*groupBody, bool) {
	var raw map[string]json.RawMessage
	if err := decodeJSON(c.Request.Body, &raw); err != nil {
		jsonError(c, http.StatusBadRequest, "Invalid JSON in body of request: "+err.Error())
		return nil, false
	}
	b := &groupBody{has: map[string]bool{}}
	for k, v := range raw {
		var dst *[]string
		switch {
		case k == "users":
			dst = &b.Users
		case k == "groups" && allowGroups:
			dst = &b.Groups
		case k == "name":
			continue // JupyterHub's model has it; the path names the group
		case k == "roles":
			jsonError(c, http.StatusBadRequest, "group.roles cannot be set: hpcgate assigns no roles to groups")
			return nil, false
		default:
			jsonError(c, http.StatusBadRequest, "Invalid JSON keys: "+strconvQuote(k))
			return nil, false
		}
		if err := json.Unmarshal(v, dst); err != nil {
			jsonError(c, http.StatusBadRequest, "group."+k+" must be a list of names")
			return nil, false
		}
		b.has[k] = true
	}
	// Users are named as at login (lower case, trimmed), as JupyterHub
	// normalizes them; a name that cannot be a user is no user.
	for i, u := range b.Users {
		n, ok := gateway.NormalizeUsername(u)
		if !ok {
			jsonError(c, http.StatusBadRequest, "No such user: "+strconvQuote(u))
			return nil, false
		}
		b.Users[i] = n
	}
	return b, true
}

func strconvQuote(s string) string {
	if r := []rune(s); len(r) > 64 {
		s = string(r[:64]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

// checkNewGroup answers 400 for a name that cannot be a hub group's and
// 409 for one taken, by a hub group or a directory group.
func (s *Server) checkNewGroup(c *gin.Context, name string) bool {
	if !gateway.ValidGroupName(name) {
		jsonError(c, http.StatusBadRequest, "Invalid group name "+strconvQuote(name)+
			": a hub group's name is lower-case letters, digits, '.', '_' and '-', at most 64, so it can never be taken for an LDAP group's DN")
		return false
	}
	g, err := s.store.GetGroup(c.Request.Context(), name)
	switch {
	case err == nil && g.Directory:
		jsonError(c, http.StatusConflict, "Group "+name+" already exists: it is a directory (LDAP) group, managed in LDAP")
		return false
	case err == nil:
		jsonError(c, http.StatusConflict, "Group "+name+" already exists")
		return false
	case !isNotFound(err):
		s.fail(c, fmt.Errorf("look up group %s: %w", name, err))
		return false
	}
	return true
}

// apiCreateGroup is POST /hub/api/groups/<g>: 201 with the new group.
func (s *Server) apiCreateGroup(c *gin.Context) {
	name := c.Param("group")
	b, ok := readGroupBody(c, false)
	if !ok || !s.checkNewGroup(c, name) {
		return
	}
	g, err := s.store.CreateGroup(c.Request.Context(), name, b.Users)
	if err != nil {
		s.groupFail(c, name, err)
		return
	}
	s.log.InfoContext(c.Request.Context(), "group created", "group", name, "users", len(b.Users), "by", who(c).Name)
	c.JSON(http.StatusCreated, s.groupModel(who(c), g))
}

// apiCreateGroups is POST /hub/api/groups: {"groups": [...], "users":
// [...]} creates each group with those users, 201 with their models.
// As JupyterHub, a taken name answers 409, after the groups before it
// were made.
func (s *Server) apiCreateGroups(c *gin.Context) {
	b, ok := readGroupBody(c, true)
	if !ok {
		return
	}
	if len(b.Groups) == 0 {
		jsonError(c, http.StatusBadRequest, "Must specify at least one group to create")
		return
	}
	var created []gin.H
	for _, name := range b.Groups {
		if !s.checkNewGroup(c, name) {
			return
		}
		g, err := s.store.CreateGroup(c.Request.Context(), name, b.Users)
		if err != nil {
			s.groupFail(c, name, err)
			return
		}
		s.log.InfoContext(c.Request.Context(), "group created", "group", name, "users", len(b.Users), "by", who(c).Name)
		created = append(created, s.groupModel(who(c), g))
	}
	c.JSON(http.StatusCreated, created)
}

// apiDeleteGroup is DELETE /hub/api/groups/<g>: 204.
func (s *Server) apiDeleteGroup(c *gin.Context) {
	name := c.Param("group")
	ctx := c.Request.Context()
	g, err := s.store.GetGroup(ctx, name)
	if err != nil {
		s.groupFail(c, name, err)
		return
	}
	if g.Directory {
		directoryManaged(c, g)
		return
	}
	if err := s.store.DeleteGroup(ctx, name); err != nil {
		s.groupFail(c, name, err)
		return
	}
	s.log.InfoContext(ctx, "group deleted", "group", name, "by", who(c).Name)
	c.Status(http.StatusNoContent)
}

// apiAddGroupUsers and apiRemoveGroupUsers are POST and DELETE
// /hub/api/groups/<g>/users with {"users": [...]}: 200 with the group.
func (s *Server) apiAddGroupUsers(c *gin.Context)    { s.changeGroupUsers(c, true) }
func (s *Server) apiRemoveGroupUsers(c *gin.Context) { s.changeGroupUsers(c, false) }

func (s *Server) changeGroupUsers(c *gin.Context, add bool) {
	name := c.Param("group")
	ctx := c.Request.Context()
	g, err := s.store.GetGroup(ctx, name)
	if err != nil {
		s.groupFail(c, name, err)
		return
	}
	if g.Directory {
		directoryManaged(c, g)
		return
	}
	b, ok := readGroupBody(c, false)
	if !ok {
		return
	}
	if !b.has["users"] {
		verb := "add"
		if !add {
			verb = "delete"
		}
		jsonError(c, http.StatusBadRequest, "Must specify users to "+verb)
		return
	}
	change, verb := s.store.AddGroupMembers, "added to"
	if !add {
		change, verb = s.store.RemoveGroupMembers, "removed from"
	}
	if g, err = change(ctx, name, b.Users); err != nil {
		s.groupFail(c, name, err)
		return
	}
	users := append([]string(nil), b.Users...)
	sort.Strings(users)
	s.log.InfoContext(ctx, "group members "+verb, "group", name, "users", strings.Join(users, ","), "by", who(c).Name)
	c.JSON(http.StatusOK, s.groupModel(who(c), g))
}
