package ldapauth

import (
	"context"
	"fmt"

	"github.com/go-ldap/ldap/v3"

	"hpcgate/gateway"
)

// maxGroupMembers bounds the members read of one group: a workshop's
// group is a class, not the whole centre.
const maxGroupMembers = 2000

var _ gateway.GroupDirectory = (*Authenticator)(nil)

// GroupMembers lists the members of the group groupDN with the service
// account, as a workshop's roster: each member's entry is read and
// decided as a login would decide it, so people who never logged in are
// listed, and those the hub may not serve carry why (Verdict.Err). Member
// values that are not entries under user_base_dn, or that lack the
// username attribute, are left out. Any failure to reach or search the
// directory is an error, never a shorter list.
func (a *Authenticator) GroupMembers(ctx context.Context, groupDN string) ([]gateway.Verdict, error) {
	if !a.CanRefresh() {
		return nil, ErrNoServiceBind
	}
	base, err := ldap.ParseDN(a.cfg.UserBaseDN)
	if err != nil {
		return nil, fmt.Errorf("user_base_dn %q: %w", a.cfg.UserBaseDN, err)
	}
	var out []gateway.Verdict
	err = a.withService(ctx, "list the members of "+groupDN, func(c *ldap.Conn) error {
		out = nil
		res, err := c.Search(a.searchRequest(groupDN, ldap.ScopeBaseObject, 0, "(objectClass=*)", []string{a.cfg.GroupMemberAttribute}))
		if err != nil {
			return err
		}
		if len(res.Entries) != 1 {
			return fmt.Errorf("group %s: %d entries", groupDN, len(res.Entries))
		}
		members := res.Entries[0].GetEqualFoldAttributeValues(a.cfg.GroupMemberAttribute)
		if len(members) > maxGroupMembers {
			return fmt.Errorf("group %s has %d members, more than the %d a workshop may have", groupDN, len(members), maxGroupMembers)
		}
		for _, m := range members {
			dn, err := ldap.ParseDN(m)
			if err != nil || !base.AncestorOfFold(dn) {
				continue
			}
			r, err := c.Search(a.searchRequest(m, ldap.ScopeBaseObject, 1, "(objectClass=*)", a.userAttributes()))
			if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
				continue // a dangling member value
			}
			if err != nil {
				return err
			}
			if len(r.Entries) != 1 {
				continue
			}
			e := r.Entries[0]
			name, ok := NormalizeUsername(e.GetEqualFoldAttributeValue(a.cfg.UsernameAttribute))
			if !ok {
				continue
			}
			var groups []string
			if len(e.GetEqualFoldAttributeValues(a.cfg.GroupAttribute)) == 0 && a.cfg.GroupSearchBaseDN != "" {
				if groups, err = a.searchGroups(c, e.DN); err != nil {
					return err
				}
			}
			u := a.user(name, e, groups)
			decided, err := a.decide(u)
			if decided == nil {
				decided = u
			}
			out = append(out, gateway.Verdict{User: decided, Err: err})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
