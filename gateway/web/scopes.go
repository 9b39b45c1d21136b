package web

import (
	"maps"
	"sort"
	"strings"
)

// Scopes, with JupyterHub 3.0's meaning (jupyterhub/scopes.py and roles.py
// at 3.0.0): "base" alone grants base on everything, "base!user=alice"
// on alice's resources, "base!server=alice/" on alice's default server.
// Every identity carries its expanded scopes and every API decision asks
// them, so a token is judged by what it was given, never by its owner's
// full rights: an admin's OAuth token for alice's server opens alice's
// server and nothing else.

// subscopes is JupyterHub 3.0's scope hierarchy (scope_definitions): a
// scope grants its subscopes too, with the same filter.
var subscopes = map[string][]string{
	"admin:users":    {"admin:auth_state", "users", "read:roles:users", "delete:users"},
	"users":          {"read:users", "list:users", "users:activity"},
	"list:users":     {"read:users:name"},
	"read:users":     {"read:users:name", "read:users:groups", "read:users:activity"},
	"read:roles":     {"read:roles:users", "read:roles:services", "read:roles:groups"},
	"users:activity": {"read:users:activity"},
	"admin:servers":  {"admin:server_state", "servers"},
	"servers":        {"read:servers", "delete:servers"},
	"read:servers":   {"read:users:name"},
	"tokens":         {"read:tokens"},
	"admin:groups":   {"groups", "read:roles:groups", "delete:groups"},
	"groups":         {"read:groups", "list:groups"},
	"list:groups":    {"read:groups:name"},
	"read:groups":    {"read:groups:name"},
	"list:services":  {"read:services:name"},
	"read:services":  {"read:services:name"},
}

// selfScopes is what the "self" metascope (role "user") grants, each
// filtered to the user (scopes.py _expand_self_scope).
var selfScopes = []string{
	"read:users", "read:users:name", "read:users:groups", "users:activity",
	"read:users:activity", "servers", "delete:servers", "read:servers",
	"tokens", "read:tokens", "access:servers",
}

// adminScopes is the "admin" role (roles.py get_default_roles), less
// access:servers, which hpcgate grants admins only with admin_access.
var adminScopes = []string{
	"admin-ui", "admin:users", "admin:servers", "tokens", "admin:groups",
	"list:services", "read:services", "read:hub", "proxy", "shutdown",
	"access:services", "read:roles", "read:metrics",
}

// scopeFilter is what one scope is granted on: all when nil, else the
// listed users and servers ("alice/" for alice's default server), and the
// groups, whose members' users and servers it covers too (scopes.py
// _check_user_in_expanded_scope): read:users!group=course1 reads the
// members of course1, hub or directory group alike.
type scopeFilter struct {
	users, servers, groups, services map[string]bool
	// groupsOf names a user's groups, to resolve group filters; set by
	// withGroups on the identity's own copy of a set (it reads the
	// store). Nil resolves nothing.
	groupsOf func(user string) []string
}

// inGroups reports whether user is in one of the filter's groups.
func (f *scopeFilter) inGroups(user string) bool {
	if len(f.groups) == 0 || f.groupsOf == nil {
		return false
	}
	for _, g := range f.groupsOf(user) {
		if f.groups[g] {
			return true
		}
	}
	return false
}

// withGroups is set with its group filters able to find users' groups
// with groupsOf. Sets come shared from the scope cache, so a set with
// group filters is copied first; one without is returned as it is.
func (set scopeSet) withGroups(groupsOf func(user string) []string) scopeSet {
	var out scopeSet
	for base, f := range set {
		if f == nil || len(f.groups) == 0 {
			continue
		}
		if out == nil {
			out = maps.Clone(set)
		}
		cp := f.clone()
		cp.groupsOf = groupsOf
		out[base] = cp
	}
	if out == nil {
		return set
	}
	return out
}

func (f *scopeFilter) clone() *scopeFilter {
	if f == nil {
		return nil
	}
	cp := func(m map[string]bool) map[string]bool {
		if m == nil {
			return nil
		}
		out := make(map[string]bool, len(m))
		for k := range m {
			out[k] = true
		}
		return out
	}
	return &scopeFilter{users: cp(f.users), servers: cp(f.servers), groups: cp(f.groups), services: cp(f.services), groupsOf: f.groupsOf}
}

// scopeSet is a parsed set of expanded scopes (scopes.py parse_scopes).
// A base mapped to nil is granted on everything.
type scopeSet map[string]*scopeFilter

// expandScopes resolves raw scopes for a token or role owned by owner:
// subscopes, the "self" metascope, bare "!user" and "!server" filters
// (scopes.py expand_scopes). "inherit" is the caller's business.
func expandScopes(raw []string, owner string) scopeSet {
	set := scopeSet{}
	var add func(base, filter string)
	add = func(base, filter string) {
		set.add(base, filter)
		for _, sub := range subscopes[base] {
			add(sub, filter)
		}
	}
	for _, sc := range raw {
		base, filter, _ := strings.Cut(sc, "!")
		switch {
		case base == "self" && filter == "":
			for _, s := range selfScopes {
				add(s, "user="+owner)
			}
			continue
		case base == "" || base == "inherit" || base == "self":
			continue
		case filter == "user":
			filter = "user=" + owner
		case filter == "server":
			// A bare !server needs an OAuth client to name the
			// server; hpcgate stores tokens with it spelled out.
			continue
		}
		add(base, filter)
		// Reading anything of a server includes its owner's name.
		if k, v, _ := strings.Cut(filter, "="); k == "server" && strings.HasPrefix(base, "read:") {
			u, _, _ := strings.Cut(v, "/")
			set.add("read:users:name", "user="+u)
		}
	}
	return set
}

// add grants base with one filter ("" for all, "user=x", "server=x/y",
// "group=g"); an unknown filter kind grants nothing.
func (set scopeSet) add(base, filter string) {
	if f, ok := set[base]; ok && f == nil {
		return // already granted on everything
	}
	if filter == "" {
		set[base] = nil
		return
	}
	kind, value, ok := strings.Cut(filter, "=")
	if !ok || value == "" {
		return
	}
	f := set[base]
	if f == nil {
		f = &scopeFilter{}
	}
	var m *map[string]bool
	switch kind {
	case "user":
		m = &f.users
	case "server":
		m = &f.servers
	case "group":
		m = &f.groups
	case "service":
		m = &f.services
	default:
		return
	}
	if *m == nil {
		*m = map[string]bool{}
	}
	(*m)[value] = true
	set[base] = f
}

// intersect is what both sets grant, resolving a server filter on one
// side against a user filter on the other (scopes.py
// _intersect_expanded_scopes): a token's access:servers!server=alice/
// within its owner's access:servers!user=alice stays.
func (set scopeSet) intersect(other scopeSet) scopeSet {
	out := scopeSet{}
	for base, a := range set {
		b, ok := other[base]
		switch {
		case !ok:
			continue
		case a == nil:
			out[base] = b.clone()
			continue
		case b == nil:
			out[base] = a.clone()
			continue
		}
		for u := range a.users {
			if b.users[u] {
				out.add(base, "user="+u)
			}
		}
		for g := range a.groups {
			if b.groups[g] {
				out.add(base, "group="+g)
			}
		}
		for sv := range a.services {
			if b.services[sv] {
				out.add(base, "service="+sv)
			}
		}
		for _, pair := range [][2]*scopeFilter{{a, b}, {b, a}} {
			for srv := range pair[0].servers {
				owner, _, _ := strings.Cut(srv, "/")
				if pair[1].servers[srv] || pair[1].users[owner] {
					out.add(base, "server="+srv)
				}
			}
		}
	}
	return out
}

// allowsAll reports whether base is granted unfiltered: what lists and
// hub-wide views need (list:users, admin-ui, read:metrics).
func (set scopeSet) allowsAll(base string) bool {
	f, ok := set[base]
	return ok && f == nil
}

// allowsUser reports whether base is granted on user's resources.
func (set scopeSet) allowsUser(base, user string) bool {
	f, ok := set[base]
	return ok && (f == nil || f.users[user] || f.inGroups(user))
}

// allowsGroup reports whether base is granted on the group named group.
func (set scopeSet) allowsGroup(base, group string) bool {
	f, ok := set[base]
	return ok && (f == nil || f.groups[group])
}

// allowsServer reports whether base is granted on user's server named
// server ("" for the default one): by a server filter or, as JupyterHub
// falls back, a filter on its owner.
func (set scopeSet) allowsServer(base, user, server string) bool {
	f, ok := set[base]
	return ok && (f == nil || f.servers[user+"/"+server] || f.users[user] || f.inGroups(user))
}

// allowsService reports whether base is granted on the service called name.
func (set scopeSet) allowsService(base, name string) bool {
	f, ok := set[base]
	return ok && (f == nil || f.services[name])
}

// strings lists the set as scope strings, sorted, as /hub/api/user
// reports them.
func (set scopeSet) strings() []string {
	var out []string
	for base, f := range set {
		if f == nil {
			out = append(out, base)
			continue
		}
		for _, kv := range []struct {
			kind string
			m    map[string]bool
		}{{"user", f.users}, {"server", f.servers}, {"group", f.groups}, {"service", f.services}} {
			for v := range kv.m {
				out = append(out, base+"!"+kv.kind+"="+v)
			}
		}
	}
	sort.Strings(out)
	return out
}

// identifyScopes are what every token may do about its owner: read the
// name and groups (scopes.py identify_scopes).
func identifyScopes(owner string) []string {
	return []string{"read:users:name!user=" + owner, "read:users:groups!user=" + owner}
}

// roleScopes are a user's own rights: the "user" role, plus the "admin"
// role for admins, plus access to every server when the site enables
// admin_access, plus access to the servers of their workshops' attendees
// for instructors (groups are the user's directory groups).
func (s *Server) roleScopes(user string, admin bool, groups []string) scopeSet {
	raw, key := s.roleRaw(user, admin, groups)
	return s.scopes.get(key, func() scopeSet { return expandScopes(raw, user) })
}

// roleRaw is the raw scopes of a user's roles and the cache key naming
// them with their owner.
func (s *Server) roleRaw(user string, admin bool, groups []string) ([]string, string) {
	raw := append([]string{"self"}, s.workshopGrantScopes(groups)...)
	raw = append(raw, s.serviceAccessScopes(groups)...)
	if admin {
		raw = append(raw, adminScopes...)
		if s.admins {
			raw = append(raw, "access:servers")
		}
	}
	return raw, scopeKey(append([]string{"role", user}, raw...)...)
}

// gateScopes are what the /user/ gate cookie may do: reach the servers
// its owner may reach, nothing else.
func (s *Server) gateScopes(user string, admin bool, groups []string) scopeSet {
	_, key := s.roleRaw(user, admin, groups)
	return s.scopes.get("gate\x00"+key, func() scopeSet {
		set := scopeSet{}
		set.add("access:servers", "")
		return set.intersect(s.roleScopes(user, admin, groups))
	})
}

// tokenScopes are what a token may do: its stored scopes, with the
// identify scopes every token has, within its owner's current rights (so
// a demoted admin's tokens lose the admin's part at once). A user's API
// token stored without scopes inherits the owner's rights, as JupyterHub's
// default "token" role does. read:metrics is the exception: it is granted
// by the site's operator (hpcgate token -scopes read:metrics) to a
// scraper account that need not be an admin.
func (s *Server) tokenScopes(t *Token, owner string, admin bool, groups []string) scopeSet {
	if t.Kind == TokenUser && (len(t.Scopes) == 0 || containsScope(t.Scopes, "inherit")) {
		return s.roleScopes(owner, admin, groups)
	}
	_, roleKey := s.roleRaw(owner, admin, groups)
	key := scopeKey(append([]string{"token", roleKey, t.Kind}, t.Scopes...)...)
	return s.scopes.get(key, func() scopeSet {
		role := s.roleScopes(owner, admin, groups)
		set := expandScopes(append(identifyScopes(owner), t.Scopes...), owner).intersect(role)
		if t.Kind == TokenUser && containsScope(t.Scopes, metricsScope) {
			set.add(metricsScope, "")
		}
		return set
	})
}

func containsScope(scopes []string, want string) bool {
	for _, s := range scopes {
		if s == want {
			return true
		}
	}
	return false
}
