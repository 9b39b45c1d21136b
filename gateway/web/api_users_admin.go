package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// User management, JupyterHub 3.0's (apihandlers/users.py), for holders
// of admin:users (delete:users to delete): POST /hub/api/users (bulk),
// POST|PATCH|DELETE /hub/api/users/<u>.
//
// These are the hub's records of users, not accounts: the directory
// still decides who may log in. A user created here who is not in LDAP,
// or not in its allowed groups, still cannot log in; what the record
// gives is a name to put in groups, to grant admin to, or to make tokens
// for before a first login. A deleted user who is still in LDAP comes
// back at their next login, as a new user.
//
// The admin flag a user shows is the directory's verdict (its admin
// groups, admin_users) or the hub's own grant made here (PATCH
// {"admin": true}, or "admin" at creation): a login or a rights refresh
// sets only the first, so it never takes the grant back; only an admin
// can give or take the grant; and the directory's verdict cannot be
// taken back here (400), only in LDAP.

// userBody is a request's user model (base.py _check_user_model): only
// JupyterHub's keys, each of its type.
type userBody struct {
	Name  *string
	Admin *bool
	has   map[string]bool
}

// readUserBody decodes a user model from raw, or answers 400.
func readUserBody(c *gin.Context, raw map[string]json.RawMessage) (*userBody, bool) {
	b := &userBody{has: map[string]bool{}}
	for k, v := range raw {
		var err error
		switch k {
		case "name":
			err = json.Unmarshal(v, &b.Name)
			if b.Name == nil {
				err = fmt.Errorf("null")
			}
		case "admin":
			err = json.Unmarshal(v, &b.Admin)
			if b.Admin == nil {
				err = fmt.Errorf("null")
			}
		case "groups":
			jsonError(c, http.StatusBadRequest, "user.groups cannot be set here: add the user to hub groups with POST /hub/api/groups/<group>/users; directory groups are LDAP's")
			return nil, false
		case "roles":
			jsonError(c, http.StatusBadRequest, "user.roles cannot be set: hpcgate's roles are user and admin; set admin")
			return nil, false
		case "auth_state":
			jsonError(c, http.StatusBadRequest, "user.auth_state cannot be set: hpcgate keeps no auth state")
			return nil, false
		default:
			jsonError(c, http.StatusBadRequest, "Invalid JSON keys: "+strconvQuote(k))
			return nil, false
		}
		if err != nil {
			jsonError(c, http.StatusBadRequest, "user."+k+" has the wrong type: "+err.Error())
			return nil, false
		}
		b.has[k] = true
	}
	return b, true
}

// apiCreateUsers is POST /hub/api/users: {"usernames": [...], "admin":
// bool} creates the users who do not exist yet; 201 with their models,
// 409 when all exist, 400 naming the names that cannot be users.
func (s *Server) apiCreateUsers(c *gin.Context) {
	var raw map[string]json.RawMessage
	if err := decodeJSON(c.Request.Body, &raw); err != nil {
		jsonError(c, http.StatusBadRequest, "Invalid JSON in body of request: "+err.Error())
		return
	}
	var names []string
	if v, ok := raw["usernames"]; ok {
		if err := json.Unmarshal(v, &names); err != nil {
			jsonError(c, http.StatusBadRequest, "usernames must be a list of names")
			return
		}
		delete(raw, "usernames")
	}
	if len(names) == 0 {
		jsonError(c, http.StatusBadRequest, "Must specify at least one user to create")
		return
	}
	b, ok := readUserBody(c, raw)
	if !ok {
		return
	}
	var valid, invalid []string
	for _, n := range names {
		if norm, ok := gateway.NormalizeUsername(n); ok {
			valid = append(valid, norm)
		} else {
			invalid = append(invalid, strconvQuote(n))
		}
	}
	switch {
	case len(invalid) == 1:
		jsonError(c, http.StatusBadRequest, "Invalid username: "+invalid[0]+usernameRule)
		return
	case len(invalid) > 1:
		jsonError(c, http.StatusBadRequest, "Invalid usernames: "+strings.Join(invalid, ", ")+usernameRule)
		return
	}
	ctx := c.Request.Context()
	created, err := s.store.CreateUsers(ctx, valid, b.Admin != nil && *b.Admin)
	if err != nil {
		s.fail(c, fmt.Errorf("create users: %w", err))
		return
	}
	if len(created) == 0 {
		jsonError(c, http.StatusConflict, fmt.Sprintf("All %d users already exist", len(names)))
		return
	}
	id := who(c)
	models := make(userList, 0, len(created))
	for _, u := range created {
		s.log.InfoContext(ctx, "user created", "user", u.Name, "admin", u.HubAdmin, "by", id.Name)
		s.userCreatedEvent(ctx, id, u)
		models = append(models, s.userModel(id, u, nil, false))
	}
	c.JSON(http.StatusCreated, models)
}

// usernameRule is why a name cannot be a user's.
const usernameRule = " (a user name is a lower-case letter or _, then letters, digits, _, . or -, at most 32: a login name of the directory)"

// apiCreateUser is POST /hub/api/users/<u>: 201, 409 if the user exists.
func (s *Server) apiCreateUser(c *gin.Context) {
	name := c.Param("user")
	var raw map[string]json.RawMessage
	if err := decodeJSON(c.Request.Body, &raw); err != nil {
		jsonError(c, http.StatusBadRequest, "Invalid JSON in body of request: "+err.Error())
		return
	}
	b, ok := readUserBody(c, raw)
	if !ok {
		return
	}
	if norm, ok := gateway.NormalizeUsername(name); !ok || norm != name {
		jsonError(c, http.StatusBadRequest, "Invalid username: "+strconvQuote(name)+usernameRule)
		return
	}
	ctx := c.Request.Context()
	created, err := s.store.CreateUsers(ctx, []string{name}, b.Admin != nil && *b.Admin)
	if err != nil {
		s.fail(c, fmt.Errorf("create user %s: %w", name, err))
		return
	}
	if len(created) == 0 {
		jsonError(c, http.StatusConflict, "User "+name+" already exists")
		return
	}
	s.log.InfoContext(ctx, "user created", "user", name, "admin", created[0].HubAdmin, "by", who(c).Name)
	s.userCreatedEvent(ctx, who(c), created[0])
	c.JSON(http.StatusCreated, s.userModel(who(c), created[0], nil, false))
}

// apiPatchUser is PATCH /hub/api/users/<u>: {"admin": bool} sets or
// takes back the hub's admin grant. A rename is refused: the name is the
// directory's login name, and the Unix account the user's jobs run as on
// the cluster, and owns their files and their jobs' names; renaming the
// hub's record alone would give the record to whoever logs in with the
// old name next, and leave the new one without their jobs.
func (s *Server) apiPatchUser(c *gin.Context) {
	name := c.Param("user")
	ctx := c.Request.Context()
	u, err := s.store.GetUser(ctx, name)
	if err != nil {
		if isNotFound(err) {
			jsonError(c, http.StatusNotFound, "No such user: "+name)
			return
		}
		s.fail(c, err)
		return
	}
	var raw map[string]json.RawMessage
	if err := decodeJSON(c.Request.Body, &raw); err != nil {
		jsonError(c, http.StatusBadRequest, "Invalid JSON in body of request: "+err.Error())
		return
	}
	b, ok := readUserBody(c, raw)
	if !ok {
		return
	}
	if b.Name != nil && *b.Name != name {
		jsonError(c, http.StatusBadRequest, "Users cannot be renamed in hpcgate: "+name+" is the login name in the directory (LDAP), "+
			"the Unix account their jobs run as and the owner of their files; rename the account in the directory, and the new name "+
			"becomes a new hub user at its first login")
		return
	}
	if b.Admin != nil && *b.Admin != u.IsAdmin() {
		if !*b.Admin && u.Admin {
			jsonError(c, http.StatusBadRequest, name+" is an admin by the directory (an admin group or admin_users), "+
				"which the hub cannot take back: remove them from it in LDAP")
			return
		}
		if u, err = s.store.SetHubAdmin(ctx, name, *b.Admin); err != nil {
			s.fail(c, fmt.Errorf("set admin of %s: %w", name, err))
			return
		}
		s.log.InfoContext(ctx, "admin grant changed", "user", name, "admin", *b.Admin, "by", who(c).Name)
		kind, msg := "grant-admin", "Admin rights granted by "+actor(who(c))+"."
		if !*b.Admin {
			kind, msg = "revoke-admin", "Admin rights (the hub's grant) taken back by "+actor(who(c))+"."
		}
		s.userEvent(ctx, name, kind, msg, map[string]any{"by": actor(who(c))})
	}
	infos, err := s.hub.ServersOf(ctx, []string{name})
	if err != nil {
		s.fail(c, fmt.Errorf("list servers of %s: %w", name, err))
		return
	}
	m := s.userModel(who(c), u, infos, false)
	m.keys |= keyAuthState // JupyterHub's PATCH answers with it, always
	c.JSON(http.StatusOK, m)
}

// apiDeleteUser is DELETE /hub/api/users/<u>: 204 when the user, their
// tokens, sessions, servers' records and hub group memberships are gone.
// Their running servers are stopped (jobs cancelled) first; as in
// JupyterHub, a server still stopping answers 400 "please wait", and the
// client asks again once the scheduler has confirmed the job's end: the
// record of a job is never dropped while the job may still run.
func (s *Server) apiDeleteUser(c *gin.Context) {
	name := c.Param("user")
	id := who(c)
	ctx := c.Request.Context()
	if _, err := s.store.GetUser(ctx, name); err != nil {
		if isNotFound(err) {
			jsonError(c, http.StatusNotFound, "No such user: "+name)
			return
		}
		s.fail(c, err)
		return
	}
	if name == id.Name {
		jsonError(c, http.StatusBadRequest, "Cannot delete yourself!")
		return
	}
	stopping := func() (bool, error) {
		infos, err := s.hub.ServersOf(ctx, []string{name}, gateway.ActiveStates...)
		if err != nil {
			return false, fmt.Errorf("list servers of %s: %w", name, err)
		}
		return len(infos) > 0, nil
	}
	infos, err := s.hub.ServersOf(ctx, []string{name}, gateway.ActiveStates...)
	if err != nil {
		s.fail(c, fmt.Errorf("list servers of %s: %w", name, err))
		return
	}
	for _, info := range infos {
		if info.State == gateway.StateStopping {
			continue
		}
		if err := s.hub.Stop(ctx, name, info.Name, id.Name+" (deleting the user)"); err != nil {
			s.fail(c, fmt.Errorf("stop the server of %s before deleting them: %w", name, err))
			return
		}
	}
	pleaseWait := func() {
		jsonError(c, http.StatusBadRequest, name+"'s server is in the process of stopping, please wait.")
	}
	if busy, err := stopping(); err != nil || busy {
		if err != nil {
			s.fail(c, err)
		} else {
			pleaseWait()
		}
		return
	}
	// No more logins' worth of access: no new spawn between here and the
	// delete. Then look once more.
	if _, _, err := s.store.RevokeUserAccess(ctx, name); err != nil {
		s.fail(c, fmt.Errorf("revoke the access of %s: %w", name, err))
		return
	}
	if busy, err := stopping(); err != nil || busy {
		if err != nil {
			s.fail(c, err)
		} else {
			pleaseWait()
		}
		return
	}
	if err := s.store.DeleteUser(ctx, name); err != nil {
		if isNotFound(err) {
			jsonError(c, http.StatusNotFound, "No such user: "+name)
			return
		}
		s.fail(c, fmt.Errorf("delete user %s: %w", name, err))
		return
	}
	s.log.InfoContext(ctx, "user deleted", "user", name, "by", id.Name)
	s.userEvent(ctx, name, "delete-user", "User deleted by "+actor(id)+" (their tokens, sessions and server records with it).",
		map[string]any{"by": actor(id)})
	c.Status(http.StatusNoContent)
}

// actor names who made a request in the audit trail: the user, or the
// service whose token it was.
func actor(id *identity) string {
	if id.Name == "" && id.Service != "" {
		return "service " + id.Service
	}
	return id.Name
}

func (s *Server) userCreatedEvent(ctx context.Context, id *identity, u *gateway.User) {
	msg := "User created by " + actor(id) + "."
	if u.HubAdmin {
		msg = "User created as an admin by " + actor(id) + "."
	}
	s.userEvent(ctx, u.Name, "create-user", msg, map[string]any{"by": actor(id), "admin": u.HubAdmin})
}

// userEvent records user management in the events table, the admin's
// audit trail, as the hub records spawns and the directory's changes of
// rights; a failed write is logged and the action stands.
func (s *Server) userEvent(ctx context.Context, name, kind, msg string, data map[string]any) {
	e := gateway.Event{Time: s.now(), User: name, Kind: kind, Message: msg, Data: data}
	if _, err := s.store.AddEvent(context.WithoutCancel(ctx), e); err != nil {
		s.log.WarnContext(ctx, "record event", "user", name, "kind", kind, "err", err)
	}
}
