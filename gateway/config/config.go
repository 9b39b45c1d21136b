// Package config reads a site's YAML file: the hub, its LDAP directory, its
// clusters and the profiles users may spawn, with the limits the hub
// enforces on every spawn option.
//
// A file is decoded strictly over the defaults (an unknown key, a value of
// the wrong type or a setting out of range is a Problem carrying file,
// line, column and key path), then each component validates itself. Every
// problem is reported, not just the first. Secrets are file paths, never
// inline values; Validate does not look at the files (an example checks
// clean anywhere), CheckFiles does, at start-up.
//
// Which schedulers a cluster may name, and the keys of each one's
// scheduler_options block, come from the table of batch.Kinds that cmd
// passes to Load (batch/schedulers), so config knows no scheduler by name.
//
// config is a leaf of the hub: it imports batch (for the rules a job's
// values must follow, and batch.Kind) but no other hpcgate package, and no
// adapter (store, sshexec, slurm, pbs, ldapauth, web) imports it except
// through cmd.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"hpcgate/batch"
)

// Config is one site: a hub, its directory and its clusters.
type Config struct {
	Hub      Hub       `yaml:"hub"`
	LDAP     LDAP      `yaml:"ldap"`
	Clusters []Cluster `yaml:"clusters"`
	Cull     Cull      `yaml:"cull"`
	// NamedServers lets a user run several servers at once.
	NamedServers NamedServers `yaml:"named_servers"`
	Cron         Cron         `yaml:"cron"`
	// Workshops are courses: an attendee group, its sessions, its
	// reservation and its instructors (workshop.go).
	Workshops []Workshop `yaml:"workshops"`
	// Services are JupyterHub services beside the hub (service.go).
	Services []Service `yaml:"services"`
	// EventsRetention is how long server events (spawns, stops, failures)
	// are kept; 0 keeps them forever. Default: 720h.
	EventsRetention Duration `yaml:"events_retention"`
	// TokenLifetime is the default lifetime of new API tokens; 0 means no
	// expiry. Default: 0s.
	TokenLifetime Duration `yaml:"token_lifetime"`

	// src is where the config was read from, for CheckFiles' messages.
	src *decoder
}

// Hub is the web server and its state.
type Hub struct {
	// Listen is address:port to serve on. Default: 127.0.0.1:8000.
	Listen string `yaml:"listen"`
	// PublicURL is scheme://host[:port] as browsers reach the hub, without
	// the base URL. Default: http://127.0.0.1:8000.
	PublicURL string `yaml:"public_url"`
	// BaseURL is the path prefix of every page; starts and ends with "/".
	// Default: /.
	BaseURL string `yaml:"base_url"`
	// DataDir holds the SQLite database and the cookie secret.
	// Default: /var/lib/hpcgate.
	DataDir string `yaml:"data_dir"`
	// DatabaseURL is sqlite:///abs/path or postgres://…; after Load it is
	// never empty. Default: sqlite://<data_dir>/hpcgate.sqlite.
	DatabaseURL string `yaml:"database_url"`
	// DatabasePasswordFile holds the PostgreSQL password (first line), so
	// database_url carries no secret.
	DatabasePasswordFile string `yaml:"database_password_file"`
	// TLSCert and TLSKey (files, both or neither) make the hub serve HTTPS.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// CookieSecretFile signs session cookies; created with mode 0600 on
	// first start if missing. Default: <data_dir>/cookie_secret.
	CookieSecretFile string `yaml:"cookie_secret_file"`
	// SessionLifetime is how long a login lasts. Default: 24h.
	SessionLifetime Duration `yaml:"session_lifetime"`
	// HubAPIURL is where jobs reach the hub API. Default: public_url +
	// base_url + "hub/api".
	HubAPIURL string `yaml:"hub_api_url"`
	// AdminAccess lets admins open other users' servers. Default: false.
	AdminAccess bool `yaml:"admin_access"`
	// LogFormat is text or json. Default: text.
	LogFormat string `yaml:"log_format"`
	// LogLevel is debug, info, warn or error. Default: info.
	LogLevel string `yaml:"log_level"`
	// TemplatesDir overrides the embedded templates file by file.
	TemplatesDir string `yaml:"templates_dir"`
	// MetricsPublic serves /hub/metrics without a token. Default: false.
	MetricsPublic bool `yaml:"metrics_public"`
	// DebugEndpoints serves Go's profiler at /hub/debug/pprof/ to admins,
	// so a centre can profile its own hub under its own load. Off, the
	// path is not found. Default: false.
	DebugEndpoints bool `yaml:"debug_endpoints"`
	// TrustedProxies are the addresses (IPs or CIDRs) of reverse proxies
	// in front of the hub, such as a TLS terminator: from them, and only
	// from them, X-Forwarded-For names the client, whose address the logs
	// and the login rate limit then use; apps behind /user/ get the
	// proxy's X-Forwarded-Proto (https: they mark their cookies Secure).
	// Default: none, so every client behind a proxy has the proxy's
	// address and apps are told http.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Limits bound what a client may take of the hub (timeouts, sizes,
	// concurrent streams and WebSockets per user).
	Limits Limits `yaml:"limits"`
}

// LDAP is the directory users log in with. ldapauth.Config embeds it,
// adding the secrets' contents.
type LDAP struct {
	// URL is ldap://host[:port] or ldaps://host[:port]. Required.
	URL string `yaml:"url"`
	// StartTLS upgrades an ldap:// connection before the password is sent;
	// ignored for ldaps://, which is TLS already (see UseStartTLS).
	// Default: true.
	StartTLS bool `yaml:"start_tls"`
	// CAFile holds the CA certificates (PEM) that sign the server's
	// certificate. Default: the system roots.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify accepts any server certificate. Allowed so a test
	// directory with a throwaway certificate works, but the hub logs a
	// warning at every start. Default: false.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// BindDN and BindPasswordFile are the account that searches for users;
	// empty for an anonymous search, and empty with DNTemplate.
	BindDN           string `yaml:"bind_dn"`
	BindPasswordFile string `yaml:"bind_password_file"`
	// UserBaseDN is searched for users (subtree). Either it or DNTemplate.
	UserBaseDN string `yaml:"user_base_dn"`
	// UserFilter finds one user; must contain {username}.
	// Default: (uid={username}).
	UserFilter string `yaml:"user_filter"`
	// UsernameAttribute holds the login name. Default: uid.
	UsernameAttribute string `yaml:"username_attribute"`
	// DNTemplate builds the user's DN instead of searching, e.g.
	// uid={username},ou=people,dc=example,dc=org.
	DNTemplate string `yaml:"dn_template"`
	// GroupAttribute on the user's entry lists the user's group DNs.
	// Default: memberOf.
	GroupAttribute string `yaml:"group_attribute"`
	// GroupSearchBaseDN, when set, is searched for groups naming the user
	// in GroupMemberAttribute, for directories without memberOf.
	GroupSearchBaseDN string `yaml:"group_search_base_dn"`
	// GroupMemberAttribute names members on group entries. Default: member.
	GroupMemberAttribute string `yaml:"group_member_attribute"`
	// AllowedGroups (DNs) may log in; empty lets every user in.
	AllowedGroups []string `yaml:"allowed_groups"`
	// AdminGroups (DNs) and AdminUsers (login names) are admins.
	AdminGroups []string `yaml:"admin_groups"`
	AdminUsers  []string `yaml:"admin_users"`
	// Timeout bounds connecting and each request. Default: 10s.
	Timeout Duration `yaml:"timeout"`
	// RefreshInterval is how often the rights of users holding a session
	// or token are looked up again with the service account (JupyterHub's
	// auth_refresh_age): a user removed from allowed_groups or excluded by
	// user_filter (disabled) loses sessions, tokens and servers, a demoted
	// admin their admin rights, within one interval. 0 turns it off (the
	// hub warns). Needs user_base_dn. Default: 5m.
	RefreshInterval Duration `yaml:"refresh_interval"`
	// MinUID refuses accounts whose UIDAttribute is below it, or missing
	// (system accounts), at login and on refresh; 0 turns the check off.
	// Default: 1000.
	MinUID int `yaml:"min_uid"`
	// UIDAttribute holds the account's Unix uid. Default: uidNumber.
	UIDAttribute string `yaml:"uid_attribute"`
}

// UseStartTLS reports whether the connection is upgraded with StartTLS:
// start_tls is set and the URL is ldap://.
func (l *LDAP) UseStartTLS() bool { return l.StartTLS && strings.HasPrefix(l.URL, "ldap://") }

// Cull stops servers nobody uses, on the cron.cull schedule.
type Cull struct {
	// IdleTimeout stops servers without activity for this long; 0 is off.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxAge stops servers running this long, active or not; 0 is off.
	MaxAge Duration `yaml:"max_age"`
	// CullAdmins culls admins' servers too. Default: true.
	CullAdmins bool `yaml:"cull_admins"`
}

// NamedServers lets a user run several servers at once, each at
// /user/<name>/<server>/ beside the default one (JupyterHub's
// allow_named_servers and named_server_limit_per_user): a GPU notebook
// and a CPU one, or one per cluster.
type NamedServers struct {
	// Enabled allows named servers. Default: false.
	Enabled bool `yaml:"enabled"`
	// LimitPerUser is how many named servers a user may have, running or
	// stopped, until they delete one; 0 is no limit. Default: 0.
	LimitPerUser int `yaml:"limit_per_user"`
}

// Validate reports every problem in n, with paths relative to it.
func (n *NamedServers) Validate() []Problem {
	var ps problems
	if n.LimitPerUser < 0 {
		ps.add("limit_per_user", "%d must be 0 (no limit) or more", n.LimitPerUser)
	}
	return ps
}

// Cron holds the schedules of the hub's periodic work, in robfig/cron
// syntax: five fields ("*/5 * * * *") or a descriptor ("@every 1m",
// "@daily").
type Cron struct {
	// Reconcile compares the database with the schedulers. Default: @every 1m.
	Reconcile string `yaml:"reconcile"`
	// Cull runs the culler. Default: @every 5m.
	Cull string `yaml:"cull"`
	// ExpireTokens deletes expired API tokens. Default: @every 1h.
	ExpireTokens string `yaml:"expire_tokens"`
	// PruneEvents deletes events older than events_retention.
	// Default: @daily.
	PruneEvents string `yaml:"prune_events"`
	// Workshops runs the workshops' timelines: starting the class the
	// lead time before a session, warning and stopping it at the end.
	// Default: @every 30s.
	Workshops string `yaml:"workshops"`
}

// Default returns a Config with every default filled in and no clusters,
// which is where decoding starts.
func Default() *Config {
	return &Config{
		Hub: Hub{
			Listen:          "127.0.0.1:8000",
			PublicURL:       "http://127.0.0.1:8000",
			BaseURL:         "/",
			DataDir:         "/var/lib/hpcgate",
			SessionLifetime: Duration(24 * time.Hour),
			LogFormat:       "text",
			LogLevel:        "info",
			Limits:          defaultLimits(),
		},
		LDAP: LDAP{
			StartTLS:             true,
			UserFilter:           "(uid={username})",
			UsernameAttribute:    "uid",
			GroupAttribute:       "memberOf",
			GroupMemberAttribute: "member",
			Timeout:              Duration(10 * time.Second),
			RefreshInterval:      Duration(5 * time.Minute),
			MinUID:               1000,
			UIDAttribute:         "uidNumber",
		},
		Cull: Cull{CullAdmins: true},
		Cron: Cron{
			Reconcile:    "@every 1m",
			Cull:         "@every 5m",
			ExpireTokens: "@every 1h",
			PruneEvents:  "@daily",
			Workshops:    "@every 30s",
		},
		EventsRetention: Duration(720 * time.Hour),
	}
}

// Load reads and checks the site file at path. kinds are the schedulers a
// cluster may name (batch/schedulers.Kinds). Relative file paths in it are
// taken relative to the file's directory. Problems with the content come
// back as *Errors; a file that cannot be read as a wrapped os error.
func Load(path string, kinds ...batch.Kind) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read site config: %w", err)
	}
	if abs, err := filepath.Abs(path); err == nil {
		// Messages keep the name as given; paths resolve from the real place.
		return parse(path, filepath.Dir(abs), data, kinds)
	}
	return parse(path, filepath.Dir(path), data, kinds)
}

// Parse checks data as a site file called name (used in messages, and its
// directory for relative paths), with kinds as for Load. The error, if
// any, is *Errors.
func Parse(name string, data []byte, kinds ...batch.Kind) (*Config, error) {
	return parse(name, filepath.Dir(name), data, kinds)
}

func parse(name, dir string, data []byte, kinds []batch.Kind) (*Config, error) {
	d := &decoder{file: name, pos: map[string]position{}}
	cfg := Default()
	root := d.document(data)
	if root == nil && len(d.probs) > 0 {
		// A syntax error: the defaults' problems would only add noise.
		return nil, &Errors{Problems: d.probs}
	}
	if root != nil {
		d.at("", root)
		d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	}
	cfg.resolvePaths(dir)
	invalid := append(cfg.Validate(), d.schedulers(cfg, kinds)...)
	probs := d.probs
	for _, p := range invalid {
		if d.failedAt(p.Path) {
			continue // the value did not decode; that problem is reported
		}
		at := d.locate(p.Path)
		p.File, p.Line, p.Column = name, at.line, at.column
		probs = append(probs, p)
	}
	if len(probs) > 0 {
		sortProblems(probs)
		return nil, &Errors{Problems: probs}
	}
	cfg.provision()
	cfg.src = d
	return cfg, nil
}

// provision fills in the defaults that depend on other settings, once they
// are known to be valid.
func (c *Config) provision() {
	h := &c.Hub
	h.PublicURL = strings.TrimSuffix(h.PublicURL, "/")
	if h.DatabaseURL == "" {
		h.DatabaseURL = "sqlite://" + filepath.Join(h.DataDir, "hpcgate.sqlite")
	}
	if h.CookieSecretFile == "" {
		h.CookieSecretFile = filepath.Join(h.DataDir, "cookie_secret")
	}
	if h.HubAPIURL == "" {
		h.HubAPIURL = h.PublicURL + h.BaseURL + "hub/api"
	}
	for i := range c.Clusters {
		cl := &c.Clusters[i]
		if cl.Title == "" {
			cl.Title = cl.Name
		}
		for j := range cl.Profiles {
			if p := &cl.Profiles[j]; p.Title == "" {
				p.Title = p.Name
			}
		}
	}
	for i := range c.Workshops {
		c.provisionWorkshop(&c.Workshops[i])
	}
	for i := range c.Services {
		c.provisionService(&c.Services[i])
	}
}

// Cluster returns the cluster called name.
func (c *Config) Cluster(name string) (*Cluster, bool) {
	for i := range c.Clusters {
		if c.Clusters[i].Name == name {
			return &c.Clusters[i], true
		}
	}
	return nil, false
}
