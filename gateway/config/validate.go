package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"
	"github.com/robfig/cron/v3"
	"hpcgate/batch"
)

// Validate reports every problem in c, with full key paths. It does not
// look at the files c names; CheckFiles does.
func (c *Config) Validate() []Problem {
	var ps problems
	ps.addAll("hub", c.Hub.Validate())
	ps.addAll("ldap", c.LDAP.Validate())
	if len(c.Clusters) == 0 {
		ps.add("clusters", "at least one cluster is required")
	}
	for i := range c.Clusters {
		path := fmt.Sprintf("clusters[%d]", i)
		ps.addAll(path, c.Clusters[i].Validate())
		if j := slices.IndexFunc(c.Clusters, func(cl Cluster) bool { return cl.Name == c.Clusters[i].Name }); j < i {
			ps.add(path+".name", "%q is also the name of clusters[%d]", c.Clusters[i].Name, j)
		}
	}
	ps.addAll("cron", c.Cron.Validate())
	ps.addAll("named_servers", c.NamedServers.Validate())
	ps = append(ps, c.validateWorkshops()...)
	ps = append(ps, c.validateServices()...)
	ps = append(ps, c.validateHubAPIReach()...)
	return ps
}

// validateHubAPIReach refuses a hub API URL on the hub's own loopback when
// a cluster's login node is another host: its compute nodes would call
// their own localhost, and jupyterhub-singleuser, ready at first, would
// fail the user's login to it and exit. public_url's default is such a URL.
func (c *Config) validateHubAPIReach() []Problem {
	var ps problems
	key, raw := "hub.public_url", c.Hub.PublicURL
	if c.Hub.HubAPIURL != "" {
		key, raw = "hub.hub_api_url", c.Hub.HubAPIURL
	}
	u, err := url.Parse(raw)
	if err != nil || !isLoopback(u.Hostname()) {
		return nil
	}
	for _, cl := range c.Clusters {
		if cl.HubAPI == HubAPIDirect && cl.Login.Host != "" && !isLoopback(cl.Login.Host) {
			ps.add(key, "%q is this host's loopback, which the compute nodes of cluster %q (login node %s) cannot reach for the hub API; "+
				"set public_url to the address browsers use, or hub_api_url to one the nodes reach (or hub_api: reverse-tunnel)",
				raw, cl.Name, cl.Login.Host)
			break
		}
	}
	return ps
}

// isLoopback reports whether host names this machine only.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var reBaseURL = regexp.MustCompile(`^/([A-Za-z0-9._~-]+/)*$`)

// Validate reports every problem in h, with paths relative to it.
func (h *Hub) Validate() []Problem {
	var ps problems
	if host, port, err := net.SplitHostPort(h.Listen); err != nil {
		ps.add("listen", "%q is not address:port (%v)", h.Listen, err)
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		ps.add("listen", "%q: port %q is not a number from 1 to 65535", h.Listen, port)
	} else if host != "" && net.ParseIP(host) == nil && !reHost.MatchString(host) {
		ps.add("listen", "%q: %q is not a host name or IP address", h.Listen, host)
	}
	if u, err := url.Parse(h.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ps.add("public_url", "%q must be http://host[:port] or https://host[:port] as browsers reach the hub", h.PublicURL)
	} else if strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		ps.add("public_url", "%q must be only scheme, host and port; put the path in base_url", h.PublicURL)
	}
	if !reBaseURL.MatchString(h.BaseURL) {
		ps.add("base_url", "%q must start and end with / (like / or /jupyter/) and hold only letters, digits and ._~-", h.BaseURL)
	}
	absolute(&ps, "data_dir", h.DataDir)
	if h.DatabaseURL != "" {
		ps.addAll("", validateDatabaseURL(h.DatabaseURL))
	}
	if h.DatabasePasswordFile != "" && !strings.HasPrefix(h.DatabaseURL, "postgres") {
		ps.add("database_password_file", "is only used with a postgres:// database_url")
	}
	// Reported at the one that is given, whose line the reader can find.
	switch {
	case h.TLSCert != "" && h.TLSKey == "":
		ps.add("tls_cert", "needs tls_key, the certificate's private key (give both files or neither)")
	case h.TLSCert == "" && h.TLSKey != "":
		ps.add("tls_key", "needs tls_cert, the key's certificate (give both files or neither)")
	}
	if h.HubAPIURL != "" {
		if u, err := url.Parse(h.HubAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.add("hub_api_url", "%q must be an http:// or https:// URL the compute nodes can reach", h.HubAPIURL)
		}
	}
	positive(&ps, "session_lifetime", h.SessionLifetime)
	if h.LogFormat != "text" && h.LogFormat != "json" {
		ps.add("log_format", "%q is not text or json", h.LogFormat)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, h.LogLevel) {
		ps.add("log_level", "%q is not debug, info, warn or error", h.LogLevel)
	}
	for i, a := range h.TrustedProxies {
		if _, err := parseProxy(a); err != nil {
			ps.add(fmt.Sprintf("trusted_proxies[%d]", i), "%q is not an IP address or CIDR (like 10.0.0.5 or 10.0.0.0/24)", a)
		}
	}
	ps.addAll("limits", h.Limits.Validate())
	return ps
}

func validateDatabaseURL(s string) []Problem {
	var ps problems
	u, err := url.Parse(s)
	switch {
	case err != nil:
		ps.add("database_url", "%q is not a URL", s)
	case u.Scheme == "sqlite":
		if u.Host != "" || !strings.HasPrefix(u.Path, "/") {
			ps.add("database_url", "%q: a SQLite database is sqlite:///absolute/path (three slashes)", s)
		}
	case u.Scheme == "postgres" || u.Scheme == "postgresql":
		if u.Host == "" && u.Query().Get("host") == "" {
			ps.add("database_url", "%q: no host", s)
		}
		if u.User != nil {
			if _, set := u.User.Password(); set {
				ps.add("database_url", "holds a password; secrets go in files: put it in database_password_file")
			}
		}
	default:
		ps.add("database_url", "%q is not sqlite:///path or postgres://…", s)
	}
	return ps
}

// Validate reports every problem in l, with paths relative to it. These
// are the only rules for the section: ldapauth.New applies them too, so
// what check-config passes (and reports with its lines) is what the hub
// accepts.
func (l *LDAP) Validate() []Problem {
	var ps problems
	u, err := url.Parse(l.URL)
	switch {
	case l.URL == "":
		ps.add("url", "required (ldap://host[:port] or ldaps://host[:port])")
	case err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Hostname() == "":
		ps.add("url", "%q is not ldap://host[:port] or ldaps://host[:port]", l.URL)
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "":
		ps.add("url", "%q: only scheme, host and port are allowed", l.URL)
	}
	if l.BindPasswordFile != "" && l.BindDN == "" {
		ps.add("bind_password_file", "is the password of bind_dn, which is not set")
	}
	switch {
	case l.DNTemplate != "" && l.UserBaseDN != "":
		ps.add("dn_template", "set either user_base_dn (search) or dn_template, not both")
	case l.DNTemplate == "" && l.UserBaseDN == "":
		ps.add("user_base_dn", "required unless dn_template is set (the subtree searched for users)")
	case l.DNTemplate != "":
		if strings.Count(l.DNTemplate, "{username}") != 1 {
			ps.add("dn_template", "%q must contain {username} once", l.DNTemplate)
		} else {
			checkDN(&ps, "dn_template", strings.Replace(l.DNTemplate, "{username}", "x", 1))
		}
		if l.BindDN != "" {
			ps.add("bind_dn", "is only used to search for users; with dn_template the hub binds as the user")
		}
	default:
		checkDN(&ps, "user_base_dn", l.UserBaseDN)
		if !strings.Contains(l.UserFilter, "{username}") {
			ps.add("user_filter", "%q must contain {username}", l.UserFilter)
		} else if _, err := ldap.CompileFilter(strings.ReplaceAll(l.UserFilter, "{username}", "x")); err != nil {
			ps.add("user_filter", "%q is not an LDAP filter: %v", l.UserFilter, err)
		}
		if l.BindDN != "" {
			checkDN(&ps, "bind_dn", l.BindDN)
			if l.BindPasswordFile == "" {
				ps.add("bind_password_file", "required with bind_dn (a file holding its password)")
			}
		}
	}
	for _, a := range []struct{ path, v string }{
		{"username_attribute", l.UsernameAttribute},
		{"group_attribute", l.GroupAttribute},
		{"group_member_attribute", l.GroupMemberAttribute},
		{"uid_attribute", l.UIDAttribute},
	} {
		if !reAttr.MatchString(a.v) {
			ps.add(a.path, "%q is not an attribute name", a.v)
		}
	}
	if l.GroupSearchBaseDN != "" {
		checkDN(&ps, "group_search_base_dn", l.GroupSearchBaseDN)
	}
	for i, g := range l.AllowedGroups {
		checkDN(&ps, fmt.Sprintf("allowed_groups[%d]", i), g)
	}
	for i, g := range l.AdminGroups {
		checkDN(&ps, fmt.Sprintf("admin_groups[%d]", i), g)
	}
	for i, name := range l.AdminUsers {
		if !batch.ValidUser(strings.ToLower(name)) {
			ps.add(fmt.Sprintf("admin_users[%d]", i), "%q is not a valid user name", name)
		}
	}
	positive(&ps, "timeout", l.Timeout)
	if l.RefreshInterval < 0 {
		ps.add("refresh_interval", "must be 0s (off) or longer")
	}
	if l.MinUID < 0 {
		ps.add("min_uid", "must be 0 (no check) or a uid")
	}
	return ps
}

// reAttr is an LDAP attribute description: a name or a numeric OID.
var reAttr = regexp.MustCompile(`^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)$`)

// cronParser reads five-field specs and descriptors (@every 1m, @daily),
// the parser cron.New uses by default, so a spec that checks here runs there.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Validate reports every problem in c, with paths relative to it.
func (c *Cron) Validate() []Problem {
	var ps problems
	for _, s := range []struct{ path, spec string }{
		{"reconcile", c.Reconcile},
		{"cull", c.Cull},
		{"expire_tokens", c.ExpireTokens},
		{"prune_events", c.PruneEvents},
		{"workshops", c.Workshops},
	} {
		if _, err := cronParser.Parse(s.spec); err != nil {
			ps.add(s.path, "%q is not a cron schedule like \"@every 5m\", \"@daily\" or \"*/5 * * * *\" (%v)", s.spec, err)
		}
	}
	return ps
}

// absolute reports a path that is empty or relative (after resolvePaths,
// only a file parsed under a relative name can have one).
func absolute(ps *problems, path, p string) {
	if !filepath.IsAbs(p) {
		ps.add(path, "%q must be an absolute path", p)
	}
}

// TrustedProxyPrefixes is hub.trusted_proxies as address prefixes (an
// address is a prefix of its full length). The site file was validated, so
// every entry parses.
func (h *Hub) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, a := range h.TrustedProxies {
		if p, err := parseProxy(a); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func parseProxy(a string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(a); err == nil {
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return netip.Prefix{}, err
	}
	ip = ip.Unmap()
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}
