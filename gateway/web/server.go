// Package web is the hub's HTTP layer, built on Gin: the pages people use
// (login, home, spawn form, spawn-pending progress, tokens), the
// JupyterHub-compatible hub API an unmodified jupyterhub-singleuser talks
// to (/hub/api, /hub/api/user, OAuth, activity), the JupyterHub REST API
// (users, server start/stop, progress event stream, tokens), and the first
// gate in front of /user/<name>/ before the proxy.
//
// It reaches the lifecycle only through the small Hub interface below,
// the database only through Store and LDAP only through Authenticator, all
// over the gateway package's domain types; config gives it the site's
// settings. It must not import store, ldapauth, proxy, batch's adapters or
// sshexec: cmd wires the concrete types in.
package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
	"hpcgate/gateway/config"
)

// JupyterHubVersion is the JupyterHub API version this hub speaks, sent as
// "version" by GET /hub/api and in the X-JupyterHub-Version header of every
// response. jupyterhub-singleuser warns when its major.minor differs from
// the hub's; Debian bookworm ships 3.0.0. hpcgate's own version is sent as
// "hpcgate" beside it.
const JupyterHubVersion = "3.0.0"

// Hub is what the web layer needs from the server lifecycle (gateway.Hub).
type Hub interface {
	Spawn(ctx context.Context, req gateway.SpawnRequest) (*gateway.ServerInfo, error)
	Stop(ctx context.Context, user, server, by string) error
	// RemoveServer deletes a named server: at once if stopped, once its
	// job has ended if active.
	RemoveServer(ctx context.Context, user, server, by string) error
	// HasRoute reports whether the proxy routes to user's server.
	HasRoute(user, server string) bool
	Server(ctx context.Context, user, server string) (*gateway.ServerInfo, error)
	Servers(ctx context.Context) ([]*gateway.ServerInfo, error)
	ServersOf(ctx context.Context, users []string, states ...gateway.ServerState) ([]*gateway.ServerInfo, error)
	Subscribe(user, server string) (<-chan gateway.Progress, func())
	LogTail(ctx context.Context, user, server string) (string, error)
	ServeProxy(w http.ResponseWriter, r *http.Request, user, server string)
	RecordActivity(ctx context.Context, user, server string, t time.Time) error

	// Queue is the cluster's latest queue snapshot (gateway.ErrNoQueue if
	// its scheduler cannot list the whole queue). It marks the queue
	// watched, so the cluster's poller refreshes it once per interval;
	// it never runs a scheduler command itself.
	Queue(cluster string) (gateway.QueueSnapshot, error)
	// QueueWaits are the queue waits of hpcgate's jobs that started since.
	QueueWaits(ctx context.Context, since time.Time) ([]gateway.QueueWait, error)
	// Clusters are the clusters the hub runs servers on, in the site
	// file's order.
	Clusters() []*config.Cluster
	// ExplainReason is the cluster's scheduler's plain words for one of
	// its pending reasons, "" when it has none.
	ExplainReason(cluster, raw string) string
}

// Authenticator checks a login against the directory (ldapauth).
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) (*gateway.DirectoryUser, error)
}

// Options configure New.
type Options struct {
	Config *config.Config
	Store  Store
	Hub    Hub
	Auth   Authenticator
	Logger *slog.Logger
	// CookieSecret keys the session cookie and the XSRF tokens; at least
	// 32 bytes.
	CookieSecret []byte
	// Version is hpcgate's version, shown in the footer and /hub/api.
	Version string
	// Templates holds web/*.html and static/* (templates.FS).
	Templates fs.FS

	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// KeepAlive is how often an idle progress stream gets a keepalive
	// comment, as JupyterHub's does. Default: 8s.
	KeepAlive time.Duration
	// LoginLimit failed logins per user and address within LoginWindow
	// make further attempts wait. Default: 5 per minute.
	LoginLimit  int
	LoginWindow time.Duration
	// Metrics are served at /hub/metrics and count logins; nil serves
	// no metrics (404).
	Metrics *gateway.Metrics
	// Workshops runs the site's workshops (workshop.go); nil: none.
	Workshops Workshops
	// Services are the runtimes of the site's services (services.go),
	// by name; a service missing here has no token and no proxy.
	Services map[string]ServiceRuntime
	// Replica says what this hub replica leads, for /hub/health
	// (gateway.Hub.Replica); nil: not shown.
	Replica func() gateway.ReplicaStatus
}

// Server serves the hub's pages and APIs.
type Server struct {
	cfg       *config.Config
	store     Store
	scopes    scopeCache // expanded scope sets by what they came from
	hub       Hub
	auth      Authenticator
	log       *slog.Logger
	keys      *keys
	version   string
	now       func() time.Time
	keepAlive time.Duration
	limiter   *loginLimiter
	metrics   *gateway.Metrics
	workshops Workshops
	replica   func() gateway.ReplicaStatus
	promHTTP  http.Handler
	pages     map[string]*template.Template
	static    fs.FS

	base      string // base_url, always ending in "/"
	hubPrefix string // base + "hub/"
	secure    bool   // cookies only over https
	origin    string // scheme://host of public_url, for origin checks; may be ""
	lifetime  time.Duration
	admins    bool // admin_access: admins may use other users' servers
	siteName  string

	engine *gin.Engine

	// What a client may take of the hub (hub.limits).
	limits     config.Limits
	streams    *userSlots // progress streams per user
	websockets *userSlots // proxied WebSockets per user

	services       map[string]*service // by name
	serviceClients map[string]*service // by OAuth client id
}

// New checks o and builds the router.
func New(o Options) (*Server, error) {
	switch {
	case o.Config == nil:
		return nil, errors.New("web: no config")
	case o.Store == nil:
		return nil, errors.New("web: no store")
	case o.Hub == nil:
		return nil, errors.New("web: no hub")
	case o.Auth == nil:
		return nil, errors.New("web: no authenticator")
	case o.Templates == nil:
		return nil, errors.New("web: no templates")
	}
	k, err := deriveKeys(o.CookieSecret)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s := &Server{
		cfg:       o.Config,
		store:     o.Store,
		hub:       o.Hub,
		auth:      o.Auth,
		log:       o.Logger,
		keys:      k,
		version:   o.Version,
		now:       o.Now,
		keepAlive: o.KeepAlive,
		metrics:   o.Metrics,
		replica:   o.Replica,
		workshops: o.Workshops,
		promHTTP:  metricsHandler(o.Metrics, o.Logger),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.keepAlive <= 0 {
		s.keepAlive = 8 * time.Second
	}
	if s.version == "" {
		s.version = "dev"
	}
	if o.LoginLimit <= 0 {
		o.LoginLimit = 5
	}
	if o.LoginWindow <= 0 {
		o.LoginWindow = time.Minute
	}
	s.limiter = newLoginLimiter(o.LoginLimit, o.LoginWindow, s.now)
	s.limits = limitsOf(o.Config)
	s.streams = newUserSlots(s.limits.StreamsPerUser)
	s.websockets = newUserSlots(s.limits.WebSocketsPerUser)
	if err := s.applyConfig(); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s.initServices(o.Services)
	if s.pages, err = parsePages(o.Templates); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if s.static, err = fs.Sub(o.Templates, "static"); err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	s.engine = s.routes()
	return s, nil
}

// applyConfig reads the few hub settings the web layer needs.
func (s *Server) applyConfig() error {
	h := s.cfg.Hub
	s.base = "/" + strings.Trim(h.BaseURL, "/") + "/"
	if s.base == "//" {
		s.base = "/"
	}
	s.hubPrefix = s.base + "hub/"
	if h.PublicURL != "" {
		u, err := url.Parse(h.PublicURL)
		if err != nil {
			return fmt.Errorf("public_url: %w", err)
		}
		s.secure = u.Scheme == "https"
		s.origin = u.Scheme + "://" + u.Host
	}
	s.lifetime = h.SessionLifetime.D()
	if s.lifetime <= 0 {
		s.lifetime = 24 * time.Hour
	}
	s.admins = h.AdminAccess
	s.siteName = "hpcgate"
	return nil
}

// Handler returns the hub's HTTP handler.
func (s *Server) Handler() http.Handler { return s.engine }

func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	// The client address is the connection's; X-Forwarded-For is trusted
	// only from the site's hub.trusted_proxies (validated with the site
	// file), or a client could dodge the login rate limit.
	var trusted []string // nil, not empty: gin's "trust none"
	if len(s.cfg.Hub.TrustedProxies) > 0 {
		trusted = s.cfg.Hub.TrustedProxies
	}
	if err := e.SetTrustedProxies(trusted); err != nil {
		_ = e.SetTrustedProxies(nil)
		s.log.Error("hub.trusted_proxies refused; trusting no proxy", "err", err)
	}
	e.HandleMethodNotAllowed = true
	e.Use(gin.CustomRecoveryWithWriter(nil, s.logRecovered), s.logRequests, s.commonHeaders, s.limitBody)

	root := e.Group(strings.TrimSuffix(s.base, "/"))
	root.GET("/", s.redirectTo("hub/"))
	if s.base != "/" {
		e.GET(strings.TrimSuffix(s.base, "/"), s.redirectTo("hub/"))
	}

	hub := root.Group("/hub")
	hub.GET("", s.redirectTo("hub/"))
	hub.GET("/static/*file", s.serveStatic)
	hub.GET("/logo", s.serveLogo)
	hub.GET("/health", s.health)

	pages := hub.Group("", s.identify)
	pages.GET("/", s.hubRoot)
	pages.GET("/login", s.loginPage)
	pages.POST("/login", s.login)
	pages.GET("/logout", s.logoutPage)
	pages.POST("/logout", s.requireForm, s.logout)
	pages.POST("/security/csp-report", s.cspReport)

	user := pages.Group("", s.requirePageUser)
	user.GET("/home", s.home)
	user.POST("/stop/:user", s.requireForm, s.stopForm)
	user.GET("/spawn", s.spawnPage)
	user.POST("/spawn", s.requireForm, s.spawn)
	user.GET("/spawn/:user", s.spawnPage)
	user.POST("/spawn/:user", s.requireForm, s.spawn)
	user.GET("/spawn-pending/:user", s.spawnPending)
	user.POST("/spawn-pending/:user/cancel", s.requireForm, s.stopForm)
	// A named server's pages (named_servers).
	user.POST("/stop/:user/:name", s.requireForm, s.stopForm)
	user.GET("/spawn/:user/:name", s.spawnPage)
	user.POST("/spawn/:user/:name", s.requireForm, s.spawn)
	user.GET("/spawn-pending/:user/:name", s.spawnPending)
	user.POST("/spawn-pending/:user/:name/cancel", s.requireForm, s.stopForm)
	user.GET("/user/:user/*path", s.userRedirect)
	user.GET("/user-redirect/*path", s.userRedirectLink)
	user.GET("/token", s.tokenPage)
	user.POST("/token", s.requireForm, s.createTokenForm)
	user.POST("/token/:id/revoke", s.requireForm, s.revokeTokenForm)
	// Workshops (workshop.go): an attendee's launch, and the page of the
	// workshop's instructors, who are not admins.
	user.POST("/workshops/:workshop/spawn", s.requireForm, s.workshopSpawn)
	user.GET("/workshops/:workshop", s.workshopPage)
	user.POST("/workshops/:workshop/start", s.requireForm, s.workshopStart)
	user.POST("/workshops/:workshop/stop", s.requireForm, s.workshopStop)
	// Opening an attendee's server records the instructor's visit, which
	// the attendee sees: a form, so that no script on the hub's origin (an
	// attendee's page open in the instructor's browser) can record one.
	user.POST("/workshops/:workshop/open/:user", s.requireForm, s.workshopOpen)
	user.GET("/workshops/:workshop/open/:user", s.workshopOpenLink)

	api := hub.Group("/api", s.identify, s.scriptNeedsXSRF)
	api.GET("", s.apiRoot)
	api.GET("/", s.apiRoot)
	api.GET("/user", s.apiSelf)
	api.GET("/oauth2/authorize", s.oauthAuthorize)
	api.POST("/oauth2/authorize", s.requireForm, s.oauthAuthorizeConfirm)
	api.POST("/oauth2/token", s.oauthToken)
	// Every API route names the scope it needs (JupyterHub 3.0's), on
	// the :user of its path; the identity's scopes decide (scopes.go),
	// so a server's own token and OAuth tokens, which live on compute
	// nodes, do only what they were given.
	api.POST("/users/:user/activity", s.requireAPIUser, requireScope("users:activity"), s.apiActivity)
	authed := api.Group("", s.requireAPIUser)
	authed.GET("/info", requireScope("read:hub"), s.apiInfo)
	authed.GET("/proxy", requireScope("proxy"), s.apiProxy)
	authed.GET("/authorizations/token/:token", s.apiTokenOwner)
	authed.GET("/users", requireListScope("list:users"), s.apiUsers)
	authed.GET("/users/:user", requireScope("read:users"), s.apiUser)
	// User management and groups (api_users_admin.go, api_groups.go).
	authed.POST("/users", requireScope("admin:users"), s.requireAPIXSRF, s.apiCreateUsers)
	authed.POST("/users/:user", requireScope("admin:users"), s.requireAPIXSRF, s.apiCreateUser)
	authed.PATCH("/users/:user", requireScope("admin:users"), s.requireAPIXSRF, s.apiPatchUser)
	authed.DELETE("/users/:user", requireScope("delete:users"), s.requireAPIXSRF, s.apiDeleteUser)
	authed.GET("/groups", requireListScope("list:groups"), s.apiGroups)
	authed.POST("/groups", requireScope("admin:groups"), s.requireAPIXSRF, s.apiCreateGroups)
	authed.GET("/groups/:group", requireGroupScope("read:groups", "read:groups:name", "read:roles:groups"), s.apiGroup)
	authed.POST("/groups/:group", requireGroupScope("admin:groups"), s.requireAPIXSRF, s.apiCreateGroup)
	authed.DELETE("/groups/:group", requireGroupScope("delete:groups"), s.requireAPIXSRF, s.apiDeleteGroup)
	authed.POST("/groups/:group/users", requireGroupScope("groups"), s.requireAPIXSRF, s.apiAddGroupUsers)
	authed.DELETE("/groups/:group/users", requireGroupScope("groups"), s.requireAPIXSRF, s.apiRemoveGroupUsers)
	authed.POST("/users/:user/server", requireServerScope("servers"), s.requireAPIXSRF, s.apiStartServer)
	authed.DELETE("/users/:user/server", requireServerScope("delete:servers"), s.requireAPIXSRF, s.apiStopServer)
	authed.GET("/users/:user/server/progress", requireServerScope("read:servers"), s.apiProgress)
	// Named servers (named_servers): the same handlers, :name the server.
	authed.POST("/users/:user/servers/:name", requireServerScope("servers"), s.requireAPIXSRF, s.apiStartServer)
	authed.DELETE("/users/:user/servers/:name", requireServerScope("delete:servers"), s.requireAPIXSRF, s.apiStopServer)
	authed.GET("/users/:user/servers/:name/progress", requireServerScope("read:servers"), s.apiProgress)
	authed.GET("/users/:user/tokens", requireScope("read:tokens"), s.apiTokens)
	authed.POST("/users/:user/tokens", requireScope("tokens"), s.requireAPIXSRF, s.apiCreateToken)
	authed.GET("/users/:user/tokens/:id", requireScope("read:tokens"), s.apiToken)
	authed.DELETE("/users/:user/tokens/:id", requireScope("tokens"), s.requireAPIXSRF, s.apiDeleteToken)
	authed.GET("/services", s.apiServices)
	authed.GET("/services/:service", s.apiService)
	authed.GET("/workshops/:workshop", s.apiWorkshop)
	authed.GET("/workshops/:workshop/usage", s.apiWorkshopUsage)

	// Admins only: every user's servers, the clusters' queues, and
	// actions on anyone's server. A page view reads the hub's state and
	// the cached queue snapshot; it never runs a scheduler command.
	admin := pages.Group("/admin", s.requireAdminPage)
	admin.GET("", s.adminPage)
	admin.POST("/start", s.requireForm, s.adminStart)
	admin.POST("/users/:user/stop", s.requireForm, s.adminStop)
	admin.POST("/users/:user/servers/:name/stop", s.requireForm, s.adminStop)
	admin.GET("/stop-all", s.stopAllPage)
	admin.POST("/stop-all", s.requireForm, s.stopAll)
	admin.GET("/queue/:cluster", s.queuePage)
	// admin-ui: these serve the admin page's views of every user and
	// the clusters' queues.
	adminAPI := authed.Group("", requireScope("admin-ui"))
	adminAPI.GET("/admin/servers", s.apiAdminServers)
	adminAPI.GET("/clusters", s.apiClusters)
	adminAPI.GET("/clusters/:cluster/queue", s.apiQueue)
	adminAPI.GET("/clusters/:cluster/queue-waits", s.apiQueueWaits)
	hub.GET("/metrics", s.identify, s.scriptNeedsXSRF, s.serveMetrics)
	hub.GET("/debug/pprof/*name", s.identify, s.scriptNeedsXSRF, s.servePprof)

	root.Any("/user/:user", s.identifyUser, s.userProxy)
	root.Any("/user/:user/*path", s.identifyUser, s.limitWebSockets, s.userProxy)
	// Services are proxied for anyone, as JupyterHub's proxy does; they
	// log users in through the hub's OAuth themselves.
	root.Any("/services/:service", s.serviceProxy)
	root.Any("/services/:service/*path", s.serviceProxy)

	e.NoRoute(s.notFound)
	e.NoMethod(s.methodNotAllowed)
	return e
}

// redirectTo answers with a redirect to a path under base_url.
func (s *Server) redirectTo(path string) gin.HandlerFunc {
	return func(c *gin.Context) { c.Redirect(http.StatusFound, s.base+path) }
}

func (s *Server) notFound(c *gin.Context) {
	if strings.HasPrefix(c.Request.URL.Path, s.hubPrefix+"api/") || !wantsHTML(c.Request) {
		jsonError(c, http.StatusNotFound, "Not Found")
		return
	}
	s.errorPage(c, http.StatusNotFound, "There is no page at this address.")
}

func (s *Server) methodNotAllowed(c *gin.Context) {
	jsonError(c, http.StatusMethodNotAllowed, "Method Not Allowed")
}

// commonHeaders sets what every hub response carries: the JupyterHub
// version (jupyterhub-singleuser checks it) and, for the hub's own pages,
// a strict content security policy (no inline script, nothing from other
// origins). Proxied responses from /user/ keep the server's headers.
func (s *Server) commonHeaders(c *gin.Context) {
	h := c.Writer.Header()
	if s.proxied(c.Request.URL.Path) {
		c.Next()
		return
	}
	h.Set("X-JupyterHub-Version", JupyterHubVersion)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	// A page of a user's server (same origin, the user's code) that opens
	// a hub page with window.open must not keep a handle on it and read
	// its XSRF token: the hub's pages get a browsing context group of
	// their own (the proxy drops this header from servers' responses, so
	// none can match it).
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	c.Next()
}

// proxied reports whether path goes to a user's server or a service,
// whose responses carry their own headers.
func (s *Server) proxied(path string) bool {
	return strings.HasPrefix(path, s.base+"user/") || strings.HasPrefix(path, s.base+"services/")
}

// logRequests writes one log line per request, with the user when known.
func (s *Server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	status := c.Writer.Status()
	level := slog.LevelInfo
	switch {
	case s.proxied(c.Request.URL.Path):
		// Proxied traffic: every click in a notebook. Its counts are
		// the proxy's metrics and its failures the proxy's own log
		// lines; a line per request (and at ERROR for the app's own
		// 500s or a client that left) would be most of the hub's log.
		level = slog.LevelDebug
	case status >= 500:
		level = slog.LevelError
	case strings.HasPrefix(c.Request.URL.Path, s.hubPrefix+"static/"), c.Request.URL.Path == s.hubPrefix+"health":
		level = slog.LevelDebug
	}
	if !s.log.Enabled(c.Request.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", c.Request.Method),
		slog.String("path", loggedPath(c.Request.URL.Path)),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
		slog.String("remote", c.ClientIP()),
	}
	if u := c.GetString(ctxUserName); u != "" {
		attrs = append(attrs, slog.String("user", u))
	}
	s.log.LogAttrs(c.Request.Context(), level, "http request", attrs...)
}

func (s *Server) serveStatic(c *gin.Context) {
	name := strings.TrimPrefix(c.Param("file"), "/")
	if name == "" || strings.Contains(name, "..") {
		s.notFound(c)
		return
	}
	if _, err := fs.Stat(s.static, name); err != nil {
		s.notFound(c)
		return
	}
	// Assets are linked with ?v=<version>, so they may be cached for long.
	if c.Query("v") != "" {
		c.Header("Cache-Control", "public, max-age=604800, immutable")
	}
	c.FileFromFS(name, http.FS(s.static))
}

// serveLogo serves the logo jupyterhub-singleuser's pages show
// (<img src="{hub_prefix}logo">).
func (s *Server) serveLogo(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=86400")
	c.FileFromFS("favicon.svg", http.FS(s.static))
}

// cspReport accepts the reports the single-user server's CSP header
// sends to {hub_prefix}security/csp-report; like JupyterHub, it only logs.
// The body was read whole by limitBody; at most 2K of it is logged.
func (s *Server) cspReport(c *gin.Context) {
	body, _ := io.ReadAll(io.LimitReader(c.Request.Body, 2048))
	s.log.Warn("content security policy violation", "user", c.GetString(ctxUserName), "report", string(body))
	c.Status(http.StatusNoContent)
}

// health answers 200 when the database answers, and says which clusters
// and cron jobs this replica leads (from memory: it stays one ping).
func (s *Server) health(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 5*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Error("health check: database", "err", err)
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "error", "db": "unreachable"})
		return
	}
	out := gin.H{"status": "ok", "db": "ok", "version": s.version}
	if s.replica != nil {
		out["replica"] = s.replica()
	}
	c.JSON(http.StatusOK, out)
}
