package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
)

// Example returns a commented site file with every key: what
// "hpcgate generate-config" prints. Defaults are rendered from the code, so
// the file cannot drift from them; the few required values are examples.
// It parses and validates with no problems (a test makes sure).
func Example() string {
	var cl Cluster
	cl.setDefaults()
	var pr Profile
	pr.setDefaults()
	var w Workshop
	w.setDefaults()
	var sv Service
	sv.setDefaults()
	var b strings.Builder
	err := exampleTemplate.Execute(&b, struct {
		*Config
		C Cluster
		P Profile
		W Workshop
		S Service
	}{Default(), cl, pr, w, sv})
	if err != nil {
		panic(fmt.Sprintf("config: example template: %v", err)) // a bug, caught by the tests
	}
	return b.String()
}

var rePlain = regexp.MustCompile(`^[A-Za-z/_.][A-Za-z0-9_./-]*$`)

// yamlValue writes v as a YAML flow value: plain words as they are,
// anything else double-quoted (a JSON string is a valid YAML one).
func yamlValue(v any) string {
	switch v := v.(type) {
	case string:
		if rePlain.MatchString(v) && !isYAMLKeyword(v) {
			return v
		}
		return strconv.Quote(v)
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = yamlValue(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case map[string]string:
		if len(v) == 0 {
			return "{}"
		}
	case fmt.Stringer, bool, int:
		return fmt.Sprint(v)
	}
	panic(fmt.Sprintf("config: example cannot write %T", v))
}

func isYAMLKeyword(s string) bool {
	switch strings.ToLower(s) {
	case "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~":
		return true
	}
	return false
}

func rangeValue[T Number](r Range[T]) string {
	if r.Value != nil {
		return fmt.Sprintf("{value: %v}", *r.Value)
	}
	return fmt.Sprintf("{min: %v, max: %v, default: %v}", r.Min, r.Max, r.Default)
}

var exampleTemplate = template.Must(template.New("example").Funcs(template.FuncMap{
	"y":        yamlValue,
	"cores":    rangeValue[int],
	"memory":   rangeValue[MemoryMB],
	"walltime": rangeValue[Walltime],
}).Parse(`# hpcgate site configuration, as printed by "hpcgate generate-config".
#
# Every key is shown. Each value is the default unless its comment says
# "Required" or "Example"; a key left out takes its default. Durations are
# written 90s, 30m or 2h. Relative file paths are relative to this file's
# directory. Secrets (keys, passwords) are always files, mode 0600.
# Check a file with "hpcgate check-config -f FILE".

# The web server and its state.
hub:
  # Address and port the hub listens on.
  listen: {{y .Hub.Listen}}
  # Example. Scheme, host and port as browsers reach the hub (no path: see base_url); jobs
  # reach the hub API there too unless hub_api_url says otherwise. Default: {{.Hub.PublicURL}}.
  public_url: https://hub.example.org
  # Path prefix of every page; starts and ends with /.
  base_url: {{y .Hub.BaseURL}}
  # Directory for the SQLite database and the cookie secret.
  data_dir: {{y .Hub.DataDir}}
  # "" uses sqlite://<data_dir>/hpcgate.sqlite; or sqlite:///abs/path, or postgres://user@host/db.
  database_url: {{y .Hub.DatabaseURL}}
  # File holding the PostgreSQL password (first line); only with postgres://.
  database_password_file: {{y .Hub.DatabasePasswordFile}}
  # Certificate (PEM, with chain) to serve HTTPS; give both files or neither.
  tls_cert: {{y .Hub.TLSCert}}
  # Private key of tls_cert.
  tls_key: {{y .Hub.TLSKey}}
  # Signs session cookies; "" uses <data_dir>/cookie_secret, created on first start.
  cookie_secret_file: {{y .Hub.CookieSecretFile}}
  # How long a login lasts.
  session_lifetime: {{y .Hub.SessionLifetime}}
  # URL the jobs of clusters with hub_api: direct use to reach the hub API; "" uses
  # public_url + base_url + "hub/api".
  hub_api_url: {{y .Hub.HubAPIURL}}
  # Lets admins open other users' servers.
  admin_access: {{y .Hub.AdminAccess}}
  # Log format: text or json.
  log_format: {{y .Hub.LogFormat}}
  # Log level: debug, info, warn or error.
  log_level: {{y .Hub.LogLevel}}
  # Directory overriding the built-in templates file by file; "" uses the built-in ones.
  templates_dir: {{y .Hub.TemplatesDir}}
  # Serves /hub/metrics without an API token.
  metrics_public: {{y .Hub.MetricsPublic}}
  # Go's profiler at /hub/debug/pprof/ for admins (go tool pprof).
  debug_endpoints: {{y .Hub.DebugEndpoints}}
  # Reverse proxies in front of the hub (IPs or CIDRs): their X-Forwarded-For names the
  # client in logs and the login rate limit, and apps get their X-Forwarded-Proto. [] trusts none.
  trusted_proxies: {{y .Hub.TrustedProxies}}
  # What a client may take of the hub. Proxied requests to /user/ are the app's
  # business: no body limit, and no read or write deadline once authorized.
  limits:
    # Bounds reading a request's headers (a client trickling them is cut off).
    read_header_timeout: {{y .Hub.Limits.ReadHeaderTimeout}}
    # Bounds reading a whole request, body included.
    read_timeout: {{y .Hub.Limits.ReadTimeout}}
    # Bounds answering a hub page or API call; event streams are exempt.
    write_timeout: {{y .Hub.Limits.WriteTimeout}}
    # Closes a keep-alive connection idle this long.
    idle_timeout: {{y .Hub.Limits.IdleTimeout}}
    # Largest request headers, with K or M (the single-user server takes at most 64K).
    max_header_bytes: {{y .Hub.Limits.MaxHeaderBytes}}
    # Largest request body for the hub's own pages and APIs; more gets 413.
    max_body_bytes: {{y .Hub.Limits.MaxBodyBytes}}
    # Progress event streams one user may hold open at once; more gets 429.
    streams_per_user: {{y .Hub.Limits.StreamsPerUser}}
    # WebSockets one user may hold open through the proxy at once; more gets 429.
    websockets_per_user: {{y .Hub.Limits.WebSocketsPerUser}}

# The directory users log in with.
ldap:
  # Required. Example. The directory, ldap://host[:port] or ldaps://host[:port].
  url: ldap://ldap.example.org
  # Upgrades ldap:// with StartTLS before a password is sent; ignored for ldaps://.
  start_tls: {{y .LDAP.StartTLS}}
  # CA certificates (PEM) for the server's certificate; "" uses the system's.
  ca_file: {{y .LDAP.CAFile}}
  # Accepts any server certificate: for test directories only (the hub warns at start).
  insecure_skip_verify: {{y .LDAP.InsecureSkipVerify}}
  # Account that searches for users; "" searches anonymously. Not used with dn_template.
  bind_dn: {{y .LDAP.BindDN}}
  # File holding bind_dn's password (first line); required with bind_dn.
  bind_password_file: {{y .LDAP.BindPasswordFile}}
  # Required unless dn_template is set. Example. Subtree searched for users.
  user_base_dn: ou=people,dc=example,dc=org
  # Filter finding one user; {username} is replaced by the escaped login name.
  user_filter: {{y .LDAP.UserFilter}}
  # Attribute holding the login name.
  username_attribute: {{y .LDAP.UsernameAttribute}}
  # Builds the user's DN instead of searching, e.g. uid={username},ou=people,dc=example,dc=org.
  dn_template: {{y .LDAP.DNTemplate}}
  # Attribute of the user's entry listing the user's group DNs.
  group_attribute: {{y .LDAP.GroupAttribute}}
  # For directories without memberOf: where to search for the user's groups.
  group_search_base_dn: {{y .LDAP.GroupSearchBaseDN}}
  # Attribute of group entries naming their members (with group_search_base_dn).
  group_member_attribute: {{y .LDAP.GroupMemberAttribute}}
  # Group DNs whose members may log in; [] lets every user in.
  allowed_groups: {{y .LDAP.AllowedGroups}}
  # Group DNs whose members are admins.
  admin_groups: {{y .LDAP.AdminGroups}}
  # Login names of admins.
  admin_users: {{y .LDAP.AdminUsers}}
  # Bounds connecting and each request.
  timeout: {{y .LDAP.Timeout}}
  # Rights of users with a session or token are looked up again this often with the
  # service account: removed, disabled (no longer matched by user_filter) or demoted
  # users lose access within one interval. 0s turns it off. Needs user_base_dn.
  refresh_interval: {{y .LDAP.RefreshInterval}}
  # Accounts whose uid is below this (or who have none) may not log in: system
  # accounts. 0 turns the check off. The service accounts (bind_dn's cn, every
  # cluster's service_user) are always refused.
  min_uid: {{y .LDAP.MinUID}}
  # Attribute holding the account's Unix uid.
  uid_attribute: {{y .LDAP.UIDAttribute}}

# Required: at least one cluster.
clusters:
  # Required. Example. Names the cluster in URLs: lower-case letters, digits, dashes.
  - name: main
    # Label on the spawn form; "" uses the name.
    title: {{y .C.Title}}
    # Required. Example. The batch system: slurm or pbs ("hpcgate check-config" names those this build knows).
    scheduler: slurm
    # Settings only this cluster's scheduler takes; its adapter names the keys (slurm and pbs take none).
    scheduler_options: {}
    # Directory of the scheduler's commands on the login node; "" uses the PATH.
    bin_dir: {{y .C.BinDir}}
    # The login node's time zone, an IANA name such as Europe/Berlin; "" is the hub's own.
    time_zone: {{y .C.TimeZone}}
    # How the hub reaches the login node over SSH.
    login:
      # Required. Example. The login node's host name or address.
      host: login.example.org
      # Port of the login node's sshd.
      port: {{y .C.Login.Port}}
      # Required. Example. known_hosts file with the login node's host key.
      known_hosts: /etc/hpcgate/known_hosts
      # certificate: the hub signs a short-lived certificate per user; sudo: service_user runs sudo -u.
      auth: {{y .C.Login.Auth}}
      # Required with auth: certificate. Example. Private key of the SSH user CA sshd trusts.
      user_ca_key: /etc/hpcgate/user_ca
      # Lifetime of each signed certificate.
      certificate_lifetime: {{y .C.Login.CertificateLifetime}}
      # Account for queue queries (a certificate principal), and the sudo account.
      service_user: {{y .C.Login.ServiceUser}}
      # Required with auth: sudo. Private key of service_user.
      service_key: {{y .C.Login.ServiceKey}}
      # Concurrent SSH sessions on one connection.
      max_sessions: {{y .C.Login.MaxSessions}}
      # How often an idle connection is probed; 0s is off.
      keepalive: {{y .C.Login.Keepalive}}
      # Bounds dialing and the SSH handshake.
      connect_timeout: {{y .C.Login.ConnectTimeout}}
    # How jobs reach the hub API: direct (at hub.hub_api_url) or reverse-tunnel (the login
    # node's sshd listens on hub_api_bind and forwards to the hub over the SSH connection).
    hub_api: {{y .C.HubAPI}}
    # With reverse-tunnel: the login node's IP and port the compute nodes reach, e.g. 10.0.0.1:8081.
    hub_api_bind: {{y .C.HubAPIBind}}
    # How often one status query asks for all of the cluster's jobs.
    poll_interval: {{y .C.PollInterval}}
    # Poll interval while a server is starting.
    fast_poll_interval: {{y .C.FastPollInterval}}
    # Cancels a job queued longer than this; 0s lets it wait.
    queue_timeout: {{y .C.QueueTimeout}}
    # How long the app may take to answer once the job runs.
    start_timeout: {{y .C.StartTimeout}}
    # Directory for address files and job logs, relative to the user's home.
    run_dir: {{y .C.RunDir}}
    # How the hub reaches the apps: tunnel (through the login node's sshd)
    # or direct (the hub connects to the compute node itself).
    proxy: {{y .C.Proxy}}
    # What the job runs on the compute node.
    app:
      # The program the job runs; {host} and {port} are where it must listen.
      command: {{y .C.App.Command}}
      # Shell lines run before the app, e.g. "module load python" (trusted).
      setup: {{y .C.App.Setup}}
      # Extra environment for the app, NAME: value.
      env: {{y .C.App.Env}}
    # More apps (the one above is "jupyterhub"); profiles offer them by name. Placeholders in
    # command and env: {host} {port} {base_url} {secret_file} {workdir}. Default: [].
    apps:
      # Required. Example. Names the app in profiles, forms and the API.
      - name: jupyter-server
        # Example. Label on the spawn form; "" uses the name.
        title: Jupyter Server
        # Required. Example. The program; the secret is read from {secret_file}, never an argument.
        command: [jupyter-server, --no-browser, "--ip={host}", "--port={port}", "--ServerApp.base_url={base_url}", "--notebook-dir={workdir}"]
        # Example. Shell lines run before the app (trusted).
        setup: []
        # Example. Extra environment, NAME: value (placeholders allowed).
        env: {JUPYTER_TOKEN_FILE: "{secret_file}"}
        # Example. token (the proxy presents a per-job secret); none-private is refused. Default: token.
        auth: token
        # Example. Where the proxy puts the secret: {header: X, value: "... {secret}"}, {cookie: X} or {query: X}.
        present: {header: Authorization, value: "token {secret}"}
        # Example. Readiness: a path under the prefix and the status; status 0 takes anything below 500.
        ready: {path: api, status: 200}
        # Example. keep (the app serves under {base_url}) or strip (the proxy removes the prefix). Default: keep.
        prefix: keep
        # Example. Where under the prefix users land; {base_url} and {base_path} are replaced. Default: "".
        open: tree
      # Example. VS Code in the browser (code-server), which accepts its hashed password as a cookie.
      - name: vscode
        # Example.
        title: VS Code
        # Example. code-server serves at / behind the proxy (prefix: strip).
        command: [/opt/hpcgate-apps/bin/code-server, "--bind-addr={host}:{port}", --auth=password, --disable-telemetry, --disable-update-check, --disable-workspace-trust, "{workdir}"]
        # Example. The secret becomes the "hashed password" the session cookie must equal, read by builtins.
        setup: ['HASHED_PASSWORD=$(<"$HPCGATE_SECRET_FILE"); export HASHED_PASSWORD']
        # Example.
        env: {}
        # Example.
        auth: token
        # Example.
        present: {cookie: code-server-session}
        # Example.
        ready: {path: healthz, status: 200}
        # Example.
        prefix: strip
        # Example.
        open: ""
      # Example. A desktop: Xvnc on a private Unix socket, websockify and noVNC (testdata/cluster/apps).
      - name: desktop
        # Example.
        title: Desktop
        # Example.
        command: [/opt/hpcgate-apps/bin/hpcgate-desktop, "{host}", "{port}", "{secret_file}"]
        # Example.
        setup: []
        # Example.
        env: {}
        # Example.
        auth: token
        # Example. websockify bridges a WebSocket only with ?token=<secret>, which the proxy adds.
        present: {query: token}
        # Example.
        ready: {path: vnc.html, status: 200}
        # Example.
        prefix: strip
        # Example. noVNC's WebSocket path is relative to the host's root.
        open: "vnc.html?autoconnect=1&resize=remote&reconnect=1&path={base_path}websockify"
    # Required: at least one profile.
    profiles:
      # Required. Example. Names the profile in forms and the API.
      - name: small
        # Example. Label on the form; "" uses the name.
        title: Small (1 to 2 cores, up to 4G, up to 8 hours)
        # Example. Shown under the title.
        description: For notebooks and light analysis.
        # Example. Partition (PBS queue) offered: {choices: [...], default: x} or fixed {value: x}.
        partition: {choices: [debug, long], default: debug}
        # Example. Account: {choices: [], default: ""} is not offered (the user's default account).
        account: {choices: [], default: ""}
        # Example. Cores: {min, max, default} is offered on the form; {value: n} is fixed.
        cores: {min: 1, max: 2, default: 1}
        # Example. Memory with K, M, G or T (a bare number is M).
        memory: {min: 512M, max: 4G, default: 1G}
        # Example. GPUs.
        gpus: {min: 0, max: 0, default: 0}
        # Example. Walltime as 90m, 2h, 1:30:00 or 2-00:00:00.
        walltime: {min: 10m, max: 8h, default: 1h}
        # Example. Extra scheduler options, each one --option=value.
        extra: [--qos=interactive]
        # Example. LDAP group DNs or hub group names (/hub/api/groups) that may use this profile; [] lets everyone.
        allowed_groups: []
        # Example. Apps this profile offers, the first is the default. Default: [jupyterhub].
        apps: [jupyterhub, jupyter-server, vscode, desktop]
      # Required. Example. This profile shows the defaults of every profile key.
      - name: default
        # Label on the form; "" uses the name.
        title: {{y .P.Title}}
        # Shown under the title.
        description: {{y .P.Description}}
        # Fixed partition; "" is the scheduler's default.
        partition: {value: {{y .P.Partition.Value}}}
        # Fixed account; "" is the user's default.
        account: {value: {{y .P.Account.Value}}}
        # Fixed number of cores.
        cores: {{cores .P.Cores}}
        # Fixed memory; 0 is the scheduler's default.
        memory: {{memory .P.Memory}}
        # Fixed number of GPUs.
        gpus: {{cores .P.GPUs}}
        # Fixed walltime.
        walltime: {{walltime .P.Walltime}}
        # Extra scheduler options.
        extra: {{y .P.Extra}}
        # LDAP group DNs or hub group names (/hub/api/groups) that may use this profile; [] lets everyone.
        allowed_groups: {{y .P.AllowedGroups}}
        # Apps offered; [] offers the cluster's jupyterhub app.
        apps: {{y .P.Apps}}

# Stops servers nobody uses, on the cron.cull schedule.
cull:
  # Stops servers without activity for this long; 0s is off.
  idle_timeout: {{y .Cull.IdleTimeout}}
  # Stops servers running this long, active or not; 0s is off.
  max_age: {{y .Cull.MaxAge}}
  # Culls admins' servers too.
  cull_admins: {{y .Cull.CullAdmins}}

# Several servers per user at once, each at /user/<name>/<server>/ beside the default one.
named_servers:
  # Lets users start named servers.
  enabled: {{y .NamedServers.Enabled}}
  # How many named servers a user may have, running or stopped, until they delete one; 0 is no limit.
  limit_per_user: {{y .NamedServers.LimitPerUser}}

# Schedules of periodic work: "@every 5m", "@hourly", "@daily" or five cron fields.
cron:
  # Compares the database with the schedulers' queues.
  reconcile: {{y .Cron.Reconcile}}
  # Runs the culler (see cull).
  cull: {{y .Cron.Cull}}
  # Deletes expired API tokens.
  expire_tokens: {{y .Cron.ExpireTokens}}
  # Deletes events older than events_retention.
  prune_events: {{y .Cron.PruneEvents}}
  # Runs the workshops' timelines: starts each class the lead time before a session, stops it at the end.
  workshops: {{y .Cron.Workshops}}

# Courses: an attendee group gets servers inside a reservation during the sessions, and an
# instructor group sees the class and may open the attendees' servers (not the hub admins').
workshops:
  # Required. Example. Names the workshop in URLs: /hub/workshops/<name>.
  - name: intro-hpc
    # Example. Title of the attendees' launch card; "" uses the name.
    title: Introduction to HPC
    # Example. Shown under the title.
    description: Two mornings of hands-on notebooks.
    # Required. Example. Group DN whose members attend.
    attendee_group: cn=intro-hpc,ou=groups,dc=example,dc=org
    # Required. Example. Group DN whose members teach: roster, start/stop all, open an attendee's server.
    instructor_group: cn=intro-hpc-teachers,ou=groups,dc=example,dc=org
    # Example. The cluster the class runs on; "" is the first.
    cluster: main
    # Required. Example. Profiles of the cluster attendees may use; the first starts the class.
    profiles: [small]
    # Example. Slurm --reservation name, or the PBS reservation's queue; "" for none.
    reservation: intro-hpc
    # IANA time zone the sessions are written in.
    time_zone: {{y .W.TimeZone}}
    # Required. Example. The sessions, "YYYY-MM-DD HH:MM" in time_zone.
    sessions:
      # Example. The first morning.
      - start: "2026-03-10 09:00"
        # Example. When the class's servers are stopped.
        end: "2026-03-10 12:30"
      # Example. The second morning.
      - {start: "2026-03-11 09:00", end: "2026-03-11 12:30"}
    # How long before each session the hub starts every attendee's server; 0s starts none.
    lead_time: {{y .W.LeadTime}}
    # Pause between two submissions when the hub starts the class.
    pace: {{y .W.Pace}}
    # Put in the attendee's home at each start, never overwriting the attendee's files.
    materials:
      # Example. A directory on the cluster whose content is copied (existing files are kept).
      copy: /shared/courses/intro-hpc
      # Example. A repository cloned if "into" does not exist yet: https://, ssh://, git@host:path or /path.
      git: https://git.example.org/courses/intro-hpc.git
      # Example. Branch or tag to clone; "" is the repository's default.
      git_ref: main
      # Example. Directory relative to the home that receives them; "" is the workshop's name.
      into: intro-hpc
    # What the class may take.
    limits:
      # Most cores per attendee's server; 0 leaves it to the profile.
      cores_per_attendee: {{y .W.Limits.CoresPerAttendee}}
      # How many attendees get a server; 0 is no limit.
      max_attendees: {{y .W.Limits.MaxAttendees}}

# JupyterHub services beside the hub: /services/<name>/ is proxied to the url, users log in
# to them through the hub's OAuth, and their API token uses the hub's REST API. With a command
# the hub runs the service itself, as the hub's own system user, and restarts it if it exits.
services:
  # Required. Example. Names the service: /services/<name>/ and access:services!service=<name>.
  - name: announcements
    # Example. http://host:port where it listens; gets the full /services/<name>/ path. "" serves no HTTP.
    url: http://127.0.0.1:10101
    # Example. Makes the service managed: the hub runs this argv (no shell) with JUPYTERHUB_* set.
    command: [/usr/bin/python3, /opt/announcements/app.py]
    # Example. Working directory of a managed service; "" is the hub's.
    cwd: /opt/announcements
    # Example. Added to a managed service's environment.
    environment: {ANNOUNCEMENT_FILE: /etc/hpcgate/announcement.txt}
    # Managed services run as the hub's own user; "" or that user's name (no other is allowed).
    user: {{y .S.User}}
    # Example. File holding the service's API token; "" derives one from the cookie secret (managed) or none (external).
    api_token_file: /etc/hpcgate/announcements.token
    # Example. Scopes of the service's API token (JupyterHub 3.0 scopes); [] only identifies it.
    scopes: ["list:users", "read:users:activity"]
    # OAuth client id, starting with service-; "" is service-<name>.
    oauth_client_id: {{y .S.OAuthClientID}}
    # Where the hub sends the browser back after login; "" is <base_url>services/<name>/oauth_callback.
    oauth_redirect_uri: {{y .S.OAuthRedirectURI}}
    # Skips the page where users confirm that the service may identify them.
    oauth_no_confirm: {{y .S.OAuthNoConfirm}}
    # Scopes tokens issued to the service for a user may carry, if the user holds them; [] only identifies.
    oauth_client_allowed_scopes: {{y .S.OAuthClientAllowedScopes}}
    # Group DNs whose members may log in to the service (admins always may); [] lets every user.
    allowed_groups: {{y .S.AllowedGroups}}
    # Lists the service on users' home pages.
    display: {{y .S.Display}}
    # Example. Free text shown in the service's REST model.
    info: {contact: hpc-support@example.org}

# How long server events are kept; 0s keeps them forever.
events_retention: {{y .EventsRetention}}
# Default lifetime of new API tokens; 0s means they do not expire.
token_lifetime: {{y .TokenLifetime}}
`))
