// Package ldapauth logs hub users in against the centre's LDAP directory
// (go-ldap/v3): it checks the password by binding as the user, found by a
// search with a service account or built from a DN template, reads the
// user's groups and decides whether they may use the hub and are admins.
// Refresh makes the same decision again later, with the service account,
// for users who are already logged in.
//
// It implements the domain's Directory (package gateway), whose types and
// errors it returns; cmd wires it into the hub and the web layer, which
// know it only through interfaces.
package ldapauth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"hpcgate/gateway"
)

// The errors Authenticate and Refresh return, to be told apart with
// errors.Is. They are the domain's (package gateway); the names here are
// for readers of this package.
var (
	// ErrInvalidCredentials is returned, unwrapped and identical, for a
	// wrong password, an unknown user, an invalid user name and an empty
	// password, so that nobody can find out which names exist. The reason
	// is logged.
	ErrInvalidCredentials = gateway.ErrInvalidCredentials
	// ErrNotAllowed is returned, wrapped, when the password was right but
	// the user is in none of the allowed groups.
	ErrNotAllowed = gateway.ErrNotAllowed
	// ErrUnavailable is returned, wrapped with the cause for the log, when
	// the directory cannot be reached or used: refused or timed-out
	// connections, TLS failures, a failed service-account bind. Show users
	// this error's own message, not the wrapped one.
	ErrUnavailable = gateway.ErrDirectoryUnavailable
	// ErrSystemAccount is returned, wrapped, for the hub's own service
	// accounts and for accounts whose uid is below Config.MinUID: no
	// session, and so no job and no SSH certificate, is ever made for them.
	ErrSystemAccount = gateway.ErrSystemAccount
	// ErrNotFound is a Refresh verdict: the user filter no longer finds
	// the user (removed, or excluded by the site's conditions in it).
	ErrNotFound = gateway.ErrNotInDirectory
)

// User is someone whose password the directory accepted.
type User = gateway.DirectoryUser

// Authenticator checks logins against one directory. It is safe for
// concurrent use.
type Authenticator struct {
	cfg  Config
	c    *compiled
	tls  *tls.Config
	log  *slog.Logger
	pool pool
}

// New validates cfg, fills in its defaults and returns an Authenticator.
// It does not connect: Check does.
func New(cfg Config) (*Authenticator, error) {
	cfg = cfg.withDefaults()
	c, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	a := &Authenticator{
		cfg: cfg,
		c:   c,
		log: cfg.Logger,
		tls: &tls.Config{
			RootCAs:            cfg.RootCAs,
			ServerName:         c.serverName,
			InsecureSkipVerify: cfg.InsecureSkipVerify,
			MinVersion:         tls.VersionTLS12,
		},
	}
	if c.url.Scheme == "ldap" && !c.startTLS {
		a.log.Warn("ldap: plain ldap:// without StartTLS: passwords cross the network in clear", "url", cfg.URL)
	}
	if cfg.InsecureSkipVerify {
		a.log.Warn("ldap: the directory's TLS certificate is not verified", "url", cfg.URL)
	}
	return a, nil
}

// Close closes the idle service-account connections.
func (a *Authenticator) Close() error {
	a.pool.close()
	return nil
}

// refusal is why a login got ErrInvalidCredentials. It is logged, never
// returned, so that every refusal looks the same from outside.
type refusal string

func (r refusal) Error() string { return string(r) }

// Authenticate checks username and password and returns the user with
// their groups. Errors: ErrInvalidCredentials, ErrNotAllowed,
// ErrUnavailable, or (rarely) another error for a directory that refuses
// what the configuration asks of it.
func (a *Authenticator) Authenticate(ctx context.Context, username, password string) (*User, error) {
	// Both checks come before any traffic: a name outside the pattern
	// never reaches a filter or a DN, and go-ldap refuses empty passwords
	// itself (servers would treat them as an anonymous bind).
	name, ok := NormalizeUsername(username)
	if !ok {
		return nil, a.refuseUnconfirmed(username, "not a valid user name")
	}
	if password == "" {
		// A password typed in the name box, then Enter.
		return nil, a.refuseUnconfirmed(name, "empty password")
	}
	// Before any traffic: the service account's password is never tried.
	if err := a.serviceUser(name); err != nil {
		a.log.Info("ldap: login refused", "user", name, "reason", err.Error())
		return nil, err
	}
	var u *User
	var err error
	if a.cfg.DNTemplate != "" {
		u, err = a.bindTemplate(ctx, name, password)
	} else {
		u, err = a.searchAndBind(ctx, name, password)
	}
	if r := refusal(""); errors.As(err, &r) {
		if r == noSuchUser || a.cfg.DNTemplate != "" {
			// With a template, a failed bind cannot tell a wrong password
			// from a name that is no entry.
			return nil, a.refuseUnconfirmed(name, "no such user, or wrong password")
		}
		return nil, a.refuse(name, r)
	}
	if err != nil {
		return nil, err
	}
	return a.decide(u)
}

// refuse logs the refusal of a name the directory holds.
func (a *Authenticator) refuse(name string, why refusal) error {
	a.log.Info("ldap: login refused", "user", name, "reason", string(why))
	return ErrInvalidCredentials
}

// refuseUnconfirmed logs the refusal of a name the directory has not
// confirmed, by its length only: it may be a password typed in the wrong
// box, and it may be megabytes long.
func (a *Authenticator) refuseUnconfirmed(name, why string) error {
	a.log.Info("ldap: login refused", "user_length", len(name), "reason", why)
	return ErrInvalidCredentials
}

// noSuchUser is the refusal of a name no entry has.
const noSuchUser refusal = "no such user"

// searchAndBind finds the user's entry with the service account, then
// binds as it on a fresh connection, so that pooled connections stay bound
// as the service account.
func (a *Authenticator) searchAndBind(ctx context.Context, name, password string) (*User, error) {
	filter := strings.ReplaceAll(a.cfg.UserFilter, Placeholder, ldap.EscapeFilter(name))
	var entries []*ldap.Entry
	var groups []string
	err := a.withService(ctx, "search for user "+name, func(c *ldap.Conn) error {
		// A size limit of 2 is enough to tell "one" from "several".
		res, err := c.Search(a.searchRequest(a.cfg.UserBaseDN, ldap.ScopeWholeSubtree, 2, filter, a.userAttributes()))
		if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			entries = res.Entries
			return nil
		}
		if err != nil {
			return err
		}
		entries = res.Entries
		if len(entries) != 1 || len(entries[0].GetEqualFoldAttributeValues(a.cfg.GroupAttribute)) > 0 {
			return nil
		}
		groups, err = a.searchGroups(c, entries[0].DN)
		return err
	})
	if err != nil {
		return nil, err
	}
	switch len(entries) {
	case 0:
		return nil, noSuchUser
	case 1:
	default:
		return nil, fmt.Errorf("search for user %s: user_filter %s matches several entries under %s", name, filter, a.cfg.UserBaseDN)
	}
	entry := entries[0]
	// Whatever the filter matched must be this login name's entry: the
	// name becomes a Unix account on the cluster.
	if !slices.ContainsFunc(entry.GetEqualFoldAttributeValues(a.cfg.UsernameAttribute), func(v string) bool {
		return strings.EqualFold(v, name)
	}) {
		return nil, refusal(fmt.Sprintf("entry %s found by user_filter has no %s %s", entry.DN, a.cfg.UsernameAttribute, name))
	}

	c, err := a.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := a.bindUser(ctx, c, entry.DN, password); err != nil {
		return nil, err
	}
	return a.user(name, entry, groups), nil
}

// bindTemplate binds as the DN built from the template, then reads the
// user's own entry (and groups) with the user's rights.
func (a *Authenticator) bindTemplate(ctx context.Context, name, password string) (*User, error) {
	dn := strings.Replace(a.cfg.DNTemplate, Placeholder, EscapeRDNValue(name), 1)
	c, err := a.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := a.bindUser(ctx, c, dn, password); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	res, err := c.Search(a.searchRequest(dn, ldap.ScopeBaseObject, 1, "(objectClass=*)", a.userAttributes()))
	if err != nil {
		return nil, requestError(ctx, "read the entry of "+dn, err)
	}
	if len(res.Entries) != 1 {
		return nil, fmt.Errorf("read the entry of %s: the user may bind but cannot read their own entry", dn)
	}
	entry := res.Entries[0]
	var groups []string
	if len(entry.GetEqualFoldAttributeValues(a.cfg.GroupAttribute)) == 0 {
		if groups, err = a.searchGroups(c, entry.DN); err != nil {
			return nil, requestError(ctx, "search the groups of "+dn, err)
		}
	}
	return a.user(name, entry, groups), nil
}

// bindUser checks the password by binding as dn on c.
func (a *Authenticator) bindUser(ctx context.Context, c *ldap.Conn, dn, password string) error {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	_, err := c.SimpleBind(ldap.NewSimpleBindRequest(dn, password, nil))
	switch {
	case err == nil:
		return nil
	case ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials):
		// Also what a bind as a DN that does not exist gets.
		return refusal("wrong password or no such entry " + dn)
	}
	return requestError(ctx, "bind as "+dn, err)
}

// searchGroups lists the groups naming dn as a member, for directories
// without a memberOf-like attribute. Nil without GroupSearchBaseDN.
func (a *Authenticator) searchGroups(c *ldap.Conn, dn string) ([]string, error) {
	if a.cfg.GroupSearchBaseDN == "" {
		return nil, nil
	}
	filter := "(" + a.cfg.GroupMemberAttribute + "=" + ldap.EscapeFilter(dn) + ")"
	// "1.1" asks for no attributes: the DNs are all we need.
	res, err := c.Search(a.searchRequest(a.cfg.GroupSearchBaseDN, ldap.ScopeWholeSubtree, 0, filter, []string{"1.1"}))
	if err != nil {
		return nil, err
	}
	groups := make([]string, 0, len(res.Entries))
	for _, e := range res.Entries {
		groups = append(groups, e.DN)
	}
	return groups, nil
}

func (a *Authenticator) searchRequest(base string, scope, sizeLimit int, filter string, attrs []string) *ldap.SearchRequest {
	timeLimit := int(math.Ceil(a.c.timeout.Seconds()))
	return ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, sizeLimit, timeLimit, false, filter, attrs, nil)
}

func (a *Authenticator) userAttributes() []string {
	return []string{a.cfg.UsernameAttribute, a.cfg.GroupAttribute, a.cfg.UIDAttribute, "displayName", "cn", "mail"}
}

// user builds the User from its entry; groups, when not nil, come from a
// group search instead of the entry's GroupAttribute.
func (a *Authenticator) user(name string, e *ldap.Entry, groups []string) *User {
	if groups == nil {
		groups = e.GetEqualFoldAttributeValues(a.cfg.GroupAttribute)
	}
	display := e.GetEqualFoldAttributeValue("displayName")
	if display == "" {
		display = e.GetEqualFoldAttributeValue("cn")
	}
	uid, err := strconv.Atoi(strings.TrimSpace(e.GetEqualFoldAttributeValue(a.cfg.UIDAttribute)))
	if err != nil || uid < 0 {
		uid = -1
	}
	return &User{
		Name:        name,
		DN:          e.DN,
		Groups:      groups,
		DisplayName: display,
		Email:       e.GetEqualFoldAttributeValue("mail"),
		UID:         uid,
	}
}

// serviceUser refuses the hub's own service accounts by name.
func (a *Authenticator) serviceUser(name string) error {
	if slices.Contains(a.c.serviceUsers, name) {
		return fmt.Errorf("%w: %s is a service account of the hub", ErrSystemAccount, name)
	}
	return nil
}

// decide is the one place that says whether a user the directory knows may
// use the hub, and as what: at login and at every refresh. It refuses
// service accounts and uids below MinUID, then applies the groups.
func (a *Authenticator) decide(u *User) (*User, error) {
	if err := a.serviceUser(u.Name); err != nil {
		return nil, err
	}
	if min := a.cfg.MinUID; min > 0 {
		switch {
		case u.UID < 0:
			return nil, fmt.Errorf("%w: the entry of %s has no numeric %s (the site requires uids of %d and above)",
				ErrNotAllowed, u.Name, a.cfg.UIDAttribute, min)
		case u.UID < min:
			return nil, fmt.Errorf("%w: %s has uid %d, below the site's minimum %d", ErrSystemAccount, u.Name, u.UID, min)
		}
	}
	return a.authorize(u)
}

// authorize sets Admin and applies AllowedGroups. Admins are allowed
// whatever their groups, as in JupyterHub.
func (a *Authenticator) authorize(u *User) (*User, error) {
	var groups []*ldap.DN
	for _, g := range u.Groups {
		dn, err := ldap.ParseDN(g)
		if err != nil {
			a.log.Warn("ldap: ignoring a group that is not a DN", "user", u.Name, "group", g, "err", err)
			continue
		}
		groups = append(groups, dn)
	}
	u.Admin = slices.Contains(a.c.adminUsers, u.Name) || inAny(groups, a.c.adminGroups)
	if !u.Admin && len(a.c.allowedGroups) > 0 && !inAny(groups, a.c.allowedGroups) {
		return nil, fmt.Errorf("%w: %s is in none of the groups allowed to log in", ErrNotAllowed, u.Name)
	}
	return u, nil
}

// Check connects and binds as the service account (search mode) or just
// connects (DN-template mode), then checks that the configured base DNs and
// the allowed and admin groups exist where the connection can see them:
// what `hpcgate check-config -connect` runs. A group DN with a typo would
// otherwise let nobody log in (or make nobody admin) with no other sign.
func (a *Authenticator) Check(ctx context.Context) error {
	c, err := a.serviceConn(ctx)
	if err != nil {
		return err
	}
	if a.cfg.DNTemplate != "" {
		// Connected (with TLS); an anonymous connection may read nothing.
		return c.Close()
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	type entry struct{ key, dn string }
	entries := []entry{{"user_base_dn", a.cfg.UserBaseDN}, {"group_search_base_dn", a.cfg.GroupSearchBaseDN}}
	for _, g := range a.cfg.AllowedGroups {
		entries = append(entries, entry{"allowed_groups", g})
	}
	for _, g := range a.cfg.AdminGroups {
		entries = append(entries, entry{"admin_groups", g})
	}
	for _, e := range entries {
		if e.dn == "" {
			continue
		}
		_, err = c.Search(a.searchRequest(e.dn, ldap.ScopeBaseObject, 1, "(objectClass=*)", []string{"1.1"}))
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			err = fmt.Errorf("check %s %s: no such entry (or the service account cannot see it)", e.key, e.dn)
			break
		}
		if err != nil {
			err = requestError(ctx, "check "+e.dn, err)
			break
		}
	}
	if stop() && err == nil {
		a.pool.put(c) // a warm connection for the first login
	} else {
		c.Close()
	}
	return err
}
