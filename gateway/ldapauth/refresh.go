package ldapauth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"hpcgate/gateway"
)

// refreshBatch bounds the users looked up by one search: the filter is an
// OR of user_filter for each of them, and a directory's filter and size
// limits are modest.
const refreshBatch = 50

// ErrNoServiceBind is Refresh's error in dn_template mode: without a
// service account the hub can only read an entry while the user's password
// is at hand, that is at login.
var ErrNoServiceBind = errors.New("rights refresh needs a service account (user_base_dn with bind_dn); dn_template binds only as the user")

// Verdict is what the directory says of a user now (gateway.Verdict).
type Verdict = gateway.Verdict

var _ gateway.Directory = (*Authenticator)(nil)

// CanRefresh reports whether Refresh works with this configuration.
func (a *Authenticator) CanRefresh() bool { return a.cfg.DNTemplate == "" }

// Refresh looks the named users up again with the service account, in one
// search per batch of up to 50, and decides for each, as a login would,
// whether they may still use the hub and whether they are admins. Names
// missing from the result could not be decided (several entries match)
// and must be left as they are. Any failure to reach or search the
// directory is an error and no verdict at all: an unreachable directory
// must never look like a directory without users.
func (a *Authenticator) Refresh(ctx context.Context, names []string) (map[string]Verdict, error) {
	if !a.CanRefresh() {
		return nil, ErrNoServiceBind
	}
	out := make(map[string]Verdict, len(names))
	var batch []string
	for _, raw := range names {
		name, ok := NormalizeUsername(raw)
		if !ok || name != raw {
			// The hub stores only normalised names; anything else never
			// logged in through this package.
			out[raw] = Verdict{Err: fmt.Errorf("%w: %q is not a valid user name", ErrNotFound, raw)}
			continue
		}
		batch = append(batch, name)
		if len(batch) == refreshBatch {
			if err := a.refreshBatch(ctx, batch, out); err != nil {
				return nil, err
			}
			batch = nil
		}
	}
	if len(batch) > 0 {
		if err := a.refreshBatch(ctx, batch, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (a *Authenticator) refreshBatch(ctx context.Context, names []string, out map[string]Verdict) error {
	var f strings.Builder
	f.WriteString("(|")
	for _, n := range names {
		f.WriteString(strings.ReplaceAll(a.cfg.UserFilter, Placeholder, ldap.EscapeFilter(n)))
	}
	f.WriteString(")")
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	var found map[string][]*ldap.Entry
	groups := map[string][]string{} // by entry DN, for directories without memberOf
	err := a.withService(ctx, fmt.Sprintf("look up %d users", len(names)), func(c *ldap.Conn) error {
		found, groups = map[string][]*ldap.Entry{}, map[string][]string{}
		// Room for two entries each, so that a name matching several is
		// seen as such rather than cut off.
		res, err := c.Search(a.searchRequest(a.cfg.UserBaseDN, ldap.ScopeWholeSubtree, 2*len(names), f.String(), a.userAttributes()))
		if err != nil {
			return err
		}
		for _, e := range res.Entries {
			for _, v := range e.GetEqualFoldAttributeValues(a.cfg.UsernameAttribute) {
				if n, ok := NormalizeUsername(v); ok && want[n] {
					found[n] = append(found[n], e)
				}
			}
			if len(e.GetEqualFoldAttributeValues(a.cfg.GroupAttribute)) == 0 && a.cfg.GroupSearchBaseDN != "" {
				g, err := a.searchGroups(c, e.DN)
				if err != nil {
					return err
				}
				groups[e.DN] = g
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, n := range names {
		entries := found[n]
		switch len(entries) {
		case 0:
			out[n] = Verdict{Err: fmt.Errorf("%w (removed, or excluded by the site's conditions in it)", ErrNotFound)}
			continue
		case 1:
		default:
			a.log.Warn("ldap: refresh: several entries match one user; left as it is", "user", n, "entries", len(entries))
			continue
		}
		u, err := a.decide(a.user(n, entries[0], groups[entries[0].DN]))
		out[n] = Verdict{User: u, Err: err}
	}
	return nil
}
