package gateway

import (
	"context"
	"strings"

	"hpcgate/gateway/config"
)

// Groups, as JupyterHub's REST API shows them, come from two places:
//
//   - the directory: each user's LDAP groups (DNs), read at login and at
//     every rights refresh. They are shown by their first RDN's value
//     (cn=hpc-users,ou=groups,… → hpc-users) and are read-only through
//     the hub: LDAP decides who is in them.
//   - the hub: groups an admin creates and fills through the API (hub
//     groups). Their names are plain words, never DNs, so the two kinds
//     cannot be taken for each other: a profile's allowed_groups entry
//     that is a DN names a directory group, one that is a plain name
//     names a hub group.

// Group is one group with its members' names.
type Group struct {
	Name  string
	Users []string
	// Directory marks a group read from the users' LDAP groups; DNs are
	// the directory groups shown under Name (usually one).
	Directory bool
	DNs       []string
}

// ValidGroupName reports whether name may name a hub group (lower case,
// never a DN: config.HubGroupName).
func ValidGroupName(name string) bool { return config.HubGroupName(name) }

// GroupName is how a directory group (a DN) is shown: the value of its
// first RDN. A value that is not a DN is shown as it is.
func GroupName(dn string) string {
	first, _, _ := strings.Cut(dn, ",")
	if k, v, ok := strings.Cut(first, "="); ok && strings.TrimSpace(k) != "" {
		return strings.TrimSpace(v)
	}
	return dn
}

// IsAdmin is the user's admin right: an admin by the directory (an admin
// group, admin_users) or by an admin's grant through the API. A rights
// refresh sets only the first, so it never takes back the second.
func (u *User) IsAdmin() bool { return u.Admin || u.HubAdmin }

// AllGroups are what a user's group checks (profiles' allowed_groups)
// compare against: their directory groups' DNs and their hub groups'
// names.
func (u *User) AllGroups() []string {
	out := make([]string, 0, len(u.Groups)+len(u.HubGroups))
	return append(append(out, u.Groups...), u.HubGroups...)
}

// GroupNames are the names of all of u's groups, as the user model's
// "groups" shows them: directory groups first, each name once.
func (u *User) GroupNames() []string {
	out := make([]string, 0, len(u.Groups)+len(u.HubGroups))
	seen := map[string]bool{}
	for _, g := range u.Groups {
		if n := GroupName(g); !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, n := range u.HubGroups {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// GroupStore keeps hub groups and finds directory groups among the users.
type GroupStore interface {
	// CreateGroup makes a hub group with members (who must exist):
	// ECONFLICT if a hub group of that name exists, ENOTFOUND naming a
	// member who does not.
	CreateGroup(ctx context.Context, name string, members []string) (*Group, error)
	// GetGroup is a hub group or, failing that, the directory group of
	// that name; ErrNotFound when neither exists.
	GetGroup(ctx context.Context, name string) (*Group, error)
	// ListGroups are the hub groups in the order they were created, then
	// the directory groups by name.
	ListGroups(ctx context.Context) ([]*Group, error)
	DeleteGroup(ctx context.Context, name string) error
	// AddGroupMembers and RemoveGroupMembers change a hub group's
	// members (who must exist); adding a member twice or removing one
	// who is not in it changes nothing.
	AddGroupMembers(ctx context.Context, name string, users []string) (*Group, error)
	RemoveGroupMembers(ctx context.Context, name string, users []string) (*Group, error)
}
