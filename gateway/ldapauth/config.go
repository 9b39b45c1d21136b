package ldapauth

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Placeholder is replaced by the (validated, escaped) login name in
// UserFilter and DNTemplate.
const Placeholder = "{username}"

// Defaults, applied by New to fields left empty.
const (
	DefaultUserFilter           = "(uid={username})"
	DefaultUsernameAttribute    = "uid"
	DefaultGroupAttribute       = "memberOf"
	DefaultGroupMemberAttribute = "member"
	DefaultUIDAttribute         = "uidNumber"
	DefaultTimeout              = 10 * time.Second
)

// Config says how to reach the directory and how users and groups live in
// it. cmd fills it from the site's YAML; the package reads no files itself.
type Config struct {
	// URL is ldap://host[:port] or ldaps://host[:port]. Required.
	URL string
	// StartTLS upgrades an ldap:// connection before anything is sent.
	// Plain ldap:// without it sends passwords in clear; New allows it
	// (cmd must ask for it explicitly) and logs a warning.
	StartTLS bool
	// RootCAs verifies the server's certificate. Default: the system roots.
	RootCAs *x509.CertPool
	// ServerName is the name the certificate must carry. Default: the host of URL.
	ServerName string
	// InsecureSkipVerify accepts any certificate. For tests only; New warns.
	InsecureSkipVerify bool

	// BindDN and BindPassword are the service account that searches for
	// users. Empty in search mode means an anonymous search; not allowed
	// with DNTemplate, where the hub binds as the user directly.
	BindDN       string
	BindPassword string

	// UserBaseDN is where users are searched for (subtree). Either it or
	// DNTemplate is required, not both.
	UserBaseDN string
	// UserFilter finds one user; {username} is replaced by the escaped
	// login name. Default: (uid={username}).
	UserFilter string
	// UsernameAttribute holds the login name on user entries; a search
	// result whose value differs from the login name is refused.
	// Default: uid.
	UsernameAttribute string
	// DNTemplate builds the user's DN instead of searching, e.g.
	// "uid={username},ou=people,dc=example,dc=org".
	DNTemplate string

	// GroupAttribute lists the user's groups (DNs) on the user's entry.
	// Default: memberOf.
	GroupAttribute string
	// GroupSearchBaseDN, when set, is searched for groups whose
	// GroupMemberAttribute names the user's DN if the user's entry has no
	// GroupAttribute (directories without a memberOf overlay).
	GroupSearchBaseDN string
	// GroupMemberAttribute names members on group entries. Default: member.
	GroupMemberAttribute string

	// AllowedGroups are the group DNs whose members may log in; empty
	// allows every user who authenticates. Admins are always allowed.
	AllowedGroups []string
	// AdminGroups and AdminUsers (login names) make a user an admin.
	AdminGroups []string
	AdminUsers  []string

	// MinUID refuses accounts whose UIDAttribute is below it (system
	// accounts, which must never get a certificate or a job), and accounts
	// without one. 0: no check (cmd's default is 1000).
	MinUID int
	// UIDAttribute holds the account's Unix uid. Default: uidNumber.
	UIDAttribute string
	// ServiceUsers are login names that may never log in: the cluster's
	// SSH service accounts. The login name in BindDN's first RDN (cn= or
	// the username attribute) is added by New.
	ServiceUsers []string

	// Timeout bounds dialing (with TLS) and each request. Default: 10s.
	Timeout time.Duration

	// Logger receives warnings about the configuration and a line per
	// refused login. Default: slog.Default().
	Logger *slog.Logger
}

// attrRE is an attribute description: a name or a numeric OID.
var attrRE = regexp.MustCompile(`^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)$`)

// withDefaults returns a copy of c with the defaults filled in.
func (c Config) withDefaults() Config {
	if c.UserFilter == "" {
		c.UserFilter = DefaultUserFilter
	}
	if c.UsernameAttribute == "" {
		c.UsernameAttribute = DefaultUsernameAttribute
	}
	if c.GroupAttribute == "" {
		c.GroupAttribute = DefaultGroupAttribute
	}
	if c.GroupMemberAttribute == "" {
		c.GroupMemberAttribute = DefaultGroupMemberAttribute
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.UIDAttribute == "" {
		c.UIDAttribute = DefaultUIDAttribute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// compiled is what New derives from a valid Config.
type compiled struct {
	url           *url.URL
	serverName    string
	allowedGroups []*ldap.DN
	adminGroups   []*ldap.DN
	adminUsers    []string
	serviceUsers  []string // normalised login names refused at login and on refresh
}

// validate checks a Config that has its defaults filled in. Every problem
// is reported, joined, so a site admin fixes them in one pass.
func (c *Config) validate() (*compiled, error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	out := &compiled{}

	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		bad("url is required")
	case err != nil:
		bad("url: %w", err)
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		bad("url %q: scheme must be ldap or ldaps", c.URL)
	case u.Hostname() == "":
		bad("url %q: no host", c.URL)
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "":
		bad("url %q: only scheme, host and port are allowed", c.URL)
	default:
		out.url = u
		out.serverName = c.ServerName
		if out.serverName == "" {
			out.serverName = u.Hostname()
		}
		if u.Scheme == "ldaps" && c.StartTLS {
			bad("url %q: start_tls is for ldap:// URLs; ldaps:// is TLS already", c.URL)
		}
	}

	checkDN := func(field, dn string) *ldap.DN {
		parsed, err := ldap.ParseDN(dn)
		if err != nil || len(parsed.RDNs) == 0 {
			bad("%s %q is not a distinguished name", field, dn)
			return nil
		}
		return parsed
	}

	switch {
	case c.DNTemplate != "" && c.UserBaseDN != "":
		bad("set either user_base_dn (search) or dn_template, not both")
	case c.DNTemplate == "" && c.UserBaseDN == "":
		bad("one of user_base_dn (search) or dn_template is required")
	case c.DNTemplate != "":
		if strings.Count(c.DNTemplate, Placeholder) != 1 {
			bad("dn_template %q must contain %s once", c.DNTemplate, Placeholder)
		} else {
			checkDN("dn_template", strings.Replace(c.DNTemplate, Placeholder, "x", 1))
		}
		if c.BindDN != "" || c.BindPassword != "" {
			bad("bind_dn is only used to search for users; with dn_template the hub binds as the user")
		}
	default:
		checkDN("user_base_dn", c.UserBaseDN)
		if !strings.Contains(c.UserFilter, Placeholder) {
			bad("user_filter %q must contain %s", c.UserFilter, Placeholder)
		} else if _, err := ldap.CompileFilter(strings.ReplaceAll(c.UserFilter, Placeholder, "x")); err != nil {
			bad("user_filter %q: %w", c.UserFilter, err)
		}
		if c.BindDN != "" {
			checkDN("bind_dn", c.BindDN)
			if c.BindPassword == "" {
				bad("bind_dn %q has no password", c.BindDN)
			}
		} else if c.BindPassword != "" {
			bad("a bind password without bind_dn")
		}
	}

	for _, f := range []struct{ field, attr string }{
		{"username_attribute", c.UsernameAttribute},
		{"group_attribute", c.GroupAttribute},
		{"group_member_attribute", c.GroupMemberAttribute},
		{"uid_attribute", c.UIDAttribute},
	} {
		if !attrRE.MatchString(f.attr) {
			bad("%s %q is not an attribute name", f.field, f.attr)
		}
	}
	if c.GroupSearchBaseDN != "" {
		checkDN("group_search_base_dn", c.GroupSearchBaseDN)
	}
	for _, g := range c.AllowedGroups {
		if dn := checkDN("allowed_groups", g); dn != nil {
			out.allowedGroups = append(out.allowedGroups, dn)
		}
	}
	for _, g := range c.AdminGroups {
		if dn := checkDN("admin_groups", g); dn != nil {
			out.adminGroups = append(out.adminGroups, dn)
		}
	}
	for _, name := range c.AdminUsers {
		n, ok := NormalizeUsername(name)
		if !ok {
			bad("admin_users: %q is not a valid user name", name)
			continue
		}
		out.adminUsers = append(out.adminUsers, n)
	}
	if c.MinUID < 0 {
		bad("min_uid %d is negative", c.MinUID)
	}
	for _, name := range c.ServiceUsers {
		n, ok := NormalizeUsername(name)
		if !ok {
			bad("service user %q is not a valid user name", name)
			continue
		}
		out.serviceUsers = append(out.serviceUsers, n)
	}
	if n := bindName(c.BindDN, c.UsernameAttribute); n != "" && !slices.Contains(out.serviceUsers, n) {
		out.serviceUsers = append(out.serviceUsers, n)
	}
	if c.Timeout < 0 {
		bad("timeout %v is negative", c.Timeout)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("ldap config: %w", err)
	}
	return out, nil
}

// bindName is the login name the service account's DN suggests: the value
// of its first RDN when that is cn= or the username attribute and reads as
// a user name (cn=hpcgate,ou=services,… → hpcgate), else "". A person
// entry with that uid would be the service account logging in as a user.
func bindName(bindDN, usernameAttr string) string {
	dn, err := ldap.ParseDN(bindDN)
	if err != nil || len(dn.RDNs) == 0 || len(dn.RDNs[0].Attributes) != 1 {
		return ""
	}
	a := dn.RDNs[0].Attributes[0]
	if !strings.EqualFold(a.Type, "cn") && !strings.EqualFold(a.Type, usernameAttr) {
		return ""
	}
	n, ok := NormalizeUsername(a.Value)
	if !ok {
		return ""
	}
	return n
}
