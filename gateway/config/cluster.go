package config

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"hpcgate/batch"
)

// Cluster is one batch system the hub submits to, through one login node.
type Cluster struct {
	// Name identifies the cluster in URLs and the database:
	// ^[a-z][a-z0-9-]*$, unique. Required.
	Name string `yaml:"name"`
	// Title is shown on the spawn form. Default: the name.
	Title string `yaml:"title"`
	// Scheduler is the batch system: one of the kinds in the table cmd
	// passes to Load (batch/schedulers: slurm, pbs). Required.
	Scheduler string `yaml:"scheduler"`
	// SchedulerOptions are the settings only this cluster's scheduler
	// takes; its adapter declares the keys (batch.Kind.Options). Default:
	// the adapter's defaults.
	SchedulerOptions SchedulerOptions `yaml:"scheduler_options"`
	// BinDir is where the scheduler's commands are on the login node;
	// empty uses the login shell's PATH.
	BinDir string `yaml:"bin_dir"`
	// TimeZone is the login node's time zone, an IANA name such as
	// Europe/Berlin: schedulers print times without one. Default: the
	// hub's local zone.
	TimeZone string `yaml:"time_zone"`
	Login    Login  `yaml:"login"`
	// HubAPI is how this cluster's jobs reach the hub API: "direct" (at
	// hub.hub_api_url, which the compute nodes must reach) or
	// "reverse-tunnel" (the hub has the login node's sshd listen on
	// HubAPIBind and forward to it over the SSH connection, so compute
	// nodes need no route to the hub). Default: direct.
	HubAPI string `yaml:"hub_api"`
	// HubAPIBind is the login node's IP address and port the compute nodes
	// reach, for hub_api: reverse-tunnel ("10.0.0.1:8081"). sshd must
	// allow the service account to listen there (GatewayPorts
	// clientspecified, PermitListen).
	HubAPIBind string `yaml:"hub_api_bind"`
	// PollInterval is how often one status query asks for all of the
	// cluster's jobs. Default: 30s.
	PollInterval Duration `yaml:"poll_interval"`
	// FastPollInterval is used instead while a server is starting.
	// Default: 3s.
	FastPollInterval Duration `yaml:"fast_poll_interval"`
	// QueueTimeout cancels a job that waits in the queue longer; 0 lets
	// it wait for as long as the scheduler keeps it. Default: 0s.
	QueueTimeout Duration `yaml:"queue_timeout"`
	// StartTimeout is how long the app may take to answer once the job
	// runs. Default: 5m.
	StartTimeout Duration `yaml:"start_timeout"`
	// RunDir is where jobs write their address file and log, relative to
	// the user's home unless absolute. Default: .hpcgate.
	RunDir string `yaml:"run_dir"`
	// Proxy is how the hub reaches users' apps on the compute nodes:
	// tunnel (a channel through the SSH connection to the login node) or
	// direct (a TCP connection from the hub to the node, for sites whose
	// hub can route to the nodes; it saves the login node's sshd the
	// traffic). Either way the address is the job's own node, checked
	// when the job reports it. Default: tunnel.
	Proxy    string    `yaml:"proxy"`
	App      App       `yaml:"app"`
	Profiles []Profile `yaml:"profiles"`
}

// The values of Cluster.Proxy.
const (
	ProxyTunnel = "tunnel"
	ProxyDirect = "direct"
)

// Login is how the hub reaches the cluster's login node over SSH.
type Login struct {
	// Host and Port of the login node's sshd. Host is required; Port
	// defaults to 22.
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// KnownHosts is an OpenSSH known_hosts file holding the login node's
	// host key; host keys are always verified. Required.
	KnownHosts string `yaml:"known_hosts"`
	// Auth is certificate (the hub signs a short-lived certificate for the
	// user with UserCAKey) or sudo (ServiceUser logs in with ServiceKey and
	// runs commands with sudo -u). Default: certificate.
	Auth string `yaml:"auth"`
	// UserCAKey is the SSH user CA's private key; required for certificate.
	UserCAKey string `yaml:"user_ca_key"`
	// CertificateLifetime is how long a signed certificate is valid.
	// Default: 10m.
	CertificateLifetime Duration `yaml:"certificate_lifetime"`
	// ServiceUser queries the queue (a certificate principal with
	// certificate auth) and runs sudo with sudo auth. Default: hpcgate.
	ServiceUser string `yaml:"service_user"`
	// ServiceKey is ServiceUser's private key; required for sudo.
	ServiceKey string `yaml:"service_key"`
	// MaxSessions bounds concurrent SSH sessions on one connection.
	// Default: 8.
	MaxSessions int `yaml:"max_sessions"`
	// Keepalive is how often an idle connection is probed; 0 is off.
	// Default: 30s.
	Keepalive Duration `yaml:"keepalive"`
	// ConnectTimeout bounds dialing and the SSH handshake. Default: 15s.
	ConnectTimeout Duration `yaml:"connect_timeout"`
}

// Addr is host:port for dialing.
func (l *Login) Addr() string { return net.JoinHostPort(l.Host, fmt.Sprint(l.Port)) }

// App is what a job runs on the compute node.
type App struct {
	// Command is the program and its arguments; {port} and {host} are
	// replaced by where the job listens. Default:
	// [jupyterhub-singleuser, --ip={host}, --port={port}].
	Command []string `yaml:"command"`
	// Setup are shell lines run before the app ("module load python").
	// They come from the site's administrators and are trusted as such.
	Setup []string `yaml:"setup"`
	// Env is extra environment for the app.
	Env map[string]string `yaml:"env"`
}

// setDefaults is applied to each cluster before the file's values.
func (c *Cluster) setDefaults() {
	*c = Cluster{
		Login: Login{
			Port:                22,
			Auth:                "certificate",
			CertificateLifetime: Duration(10 * time.Minute),
			ServiceUser:         "hpcgate",
			MaxSessions:         8,
			Keepalive:           Duration(30 * time.Second),
			ConnectTimeout:      Duration(15 * time.Second),
		},
		HubAPI:           HubAPIDirect,
		PollInterval:     Duration(30 * time.Second),
		FastPollInterval: Duration(3 * time.Second),
		StartTimeout:     Duration(5 * time.Minute),
		RunDir:           ".hpcgate",
		Proxy:            ProxyTunnel,
		App: App{
			Command: []string{"jupyterhub-singleuser", "--ip={host}", "--port={port}"},
		},
	}
}

// The ways a cluster's jobs reach the hub API (Cluster.HubAPI).
const (
	HubAPIDirect        = "direct"
	HubAPIReverseTunnel = "reverse-tunnel"
)

// checkBind says what is wrong with a reverse forward's bind address, or "".
// It must be an IP: the hub cannot resolve the login node's own names, and
// SSH matches the connections sshd hands back by address.
func checkBind(bind string) string {
	if bind == "" {
		return fmt.Sprintf("required with hub_api: %s (the login node's IP address and port the compute nodes reach, e.g. 10.0.0.1:8081)", HubAPIReverseTunnel)
	}
	host, port, err := net.SplitHostPort(bind)
	if err != nil || net.ParseIP(host) == nil {
		return fmt.Sprintf("%q must be an IP address and port of the login node, e.g. 10.0.0.1:8081", bind)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("%q: the port must be a number from 1 to 65535", bind)
	}
	return ""
}

// HubAPIURL is the hub API's URL as this cluster's jobs reach it: the
// site's hub_api_url, or the login node's forwarded address with the hub's
// base URL.
func (c *Cluster) HubAPIURL(h *Hub) string {
	if c.HubAPI == HubAPIReverseTunnel {
		return "http://" + c.HubAPIBind + h.BaseURL + "hub/api"
	}
	return h.HubAPIURL
}

// Profile returns the cluster's profile called name.
func (c *Cluster) Profile(name string) (*Profile, bool) {
	for i := range c.Profiles {
		if c.Profiles[i].Name == name {
			return &c.Profiles[i], true
		}
	}
	return nil, false
}

var (
	reName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	// reRemotePath and reEnvName are the rules batch.JobSpec.Validate
	// applies to run_dir and environment names.
	reRemotePath = regexp.MustCompile(`^[A-Za-z0-9_./-]{1,200}$`)
	reEnvName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	reHost       = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$`)
)

// Validate reports every problem in c, with paths relative to it.
func (c *Cluster) Validate() []Problem {
	var ps problems
	if !reName.MatchString(c.Name) {
		ps.add("name", "%q must start with a lower-case letter and hold only lower-case letters, digits and dashes", c.Name)
	}
	if c.BinDir != "" && (!strings.HasPrefix(c.BinDir, "/") || !reRemotePath.MatchString(c.BinDir) || strings.Contains(c.BinDir, "..")) {
		ps.add("bin_dir", "%q must be an absolute path of letters, digits and ._-/", c.BinDir)
	}
	if _, err := c.location(); err != nil {
		ps.add("time_zone", "%s", err)
	}
	ps.addAll("login", c.Login.Validate())
	switch c.HubAPI {
	case HubAPIDirect:
		if c.HubAPIBind != "" {
			ps.add("hub_api_bind", "is only used with hub_api: %s", HubAPIReverseTunnel)
		}
	case HubAPIReverseTunnel:
		if msg := checkBind(c.HubAPIBind); msg != "" {
			ps.add("hub_api_bind", "%s", msg)
		}
	default:
		ps.add("hub_api", "%q is not %s or %s", c.HubAPI, HubAPIDirect, HubAPIReverseTunnel)
	}
	positive(&ps, "poll_interval", c.PollInterval)
	positive(&ps, "fast_poll_interval", c.FastPollInterval)
	if c.FastPollInterval > c.PollInterval {
		ps.add("fast_poll_interval", "%v is longer than poll_interval %v", c.FastPollInterval, c.PollInterval)
	}
	positive(&ps, "start_timeout", c.StartTimeout)
	if !reRemotePath.MatchString(c.RunDir) || strings.Contains(c.RunDir, "..") {
		ps.add("run_dir", "%q must be a path of letters, digits and ._-/ without ..", c.RunDir)
	}
	if c.Proxy != ProxyTunnel && c.Proxy != ProxyDirect {
		ps.add("proxy", "%q is not a proxy mode (tunnel or direct)", c.Proxy)
	}
	ps.addAll("app", c.App.Validate())
	if len(c.Profiles) == 0 {
		ps.add("profiles", "at least one profile is required")
	}
	for i := range c.Profiles {
		path := fmt.Sprintf("profiles[%d]", i)
		ps.addAll(path, c.Profiles[i].Validate())
		if j := slices.IndexFunc(c.Profiles, func(p Profile) bool { return p.Name == c.Profiles[i].Name }); j < i {
			ps.add(path+".name", "%q is also the name of profiles[%d]", c.Profiles[i].Name, j)
		}
	}
	return ps
}

// Validate reports every problem in l, with paths relative to it.
func (l *Login) Validate() []Problem {
	var ps problems
	switch {
	case l.Host == "":
		ps.add("host", "required (the login node's host name or address)")
	case net.ParseIP(l.Host) == nil && !reHost.MatchString(l.Host):
		ps.add("host", "%q is not a host name or IP address", l.Host)
	}
	if l.Port < 1 || l.Port > 65535 {
		ps.add("port", "%d is not a TCP port (1 to 65535)", l.Port)
	}
	if l.KnownHosts == "" {
		ps.add("known_hosts", "required (a known_hosts file with the login node's host key; host keys are always checked)")
	}
	switch l.Auth {
	case "certificate":
		if l.UserCAKey == "" {
			ps.add("user_ca_key", "required with auth: certificate (the SSH user CA's private key file)")
		}
		positive(&ps, "certificate_lifetime", l.CertificateLifetime)
	case "sudo":
		if l.ServiceKey == "" {
			ps.add("service_key", "required with auth: sudo (the private key file of service_user %s)", l.ServiceUser)
		}
	default:
		ps.add("auth", "%q is not certificate or sudo", l.Auth)
	}
	if !batch.ValidUser(l.ServiceUser) {
		ps.add("service_user", "%q is not a valid user name", l.ServiceUser)
	}
	if l.MaxSessions < 1 || l.MaxSessions > 1000 {
		ps.add("max_sessions", "%d is not between 1 and 1000", l.MaxSessions)
	}
	positive(&ps, "connect_timeout", l.ConnectTimeout)
	return ps
}

// Validate reports every problem in a, with paths relative to it.
func (a *App) Validate() []Problem {
	var ps problems
	if len(a.Command) == 0 || a.Command[0] == "" {
		ps.add("command", "required (the program the job runs, and its arguments)")
	}
	for i, line := range a.Setup {
		if strings.ContainsAny(line, "\n\r\x00") {
			ps.add(fmt.Sprintf("setup[%d]", i), "must be one line; give several lines as several entries")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(a.Env)) {
		v := a.Env[k]
		switch {
		case !reEnvName.MatchString(k):
			ps.add("env."+k, "%q is not a valid variable name", k)
		case strings.HasPrefix(k, "JUPYTERHUB_") || strings.HasPrefix(k, "JPY_") || strings.HasPrefix(k, "HPCGATE_"):
			ps.add("env."+k, "is set by the hub for each server and cannot be overridden")
		case strings.ContainsRune(v, '\x00'):
			ps.add("env."+k, "a value cannot hold a NUL byte")
		}
	}
	return ps
}

// positive reports a zero duration where the setting needs one.
func positive(ps *problems, path string, d Duration) {
	if d <= 0 {
		ps.add(path, "must be longer than 0s")
	}
}
