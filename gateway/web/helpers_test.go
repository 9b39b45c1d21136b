package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"hpcgate/batch/schedulers"
	"hpcgate/gateway"
	"hpcgate/gateway/config"
	"hpcgate/gateway/store"
	"hpcgate/templates"
)

// siteYAML is a site with two clusters; the "gpu" profile is only for
// gpu-users.
const siteYAML = `
hub:
  public_url: http://hub.example.org
  base_url: %s
  admin_access: %v
ldap:
  url: ldap://127.0.0.1:3389
  user_base_dn: ou=people,dc=example,dc=org
clusters:
  - name: local
    title: Loopback Slurm
    scheduler: slurm
    login: {host: 127.0.0.1, port: 2222, known_hosts: /dev/null, user_ca_key: /dev/null}
    profiles:
      - name: small
        title: Small
        description: One core for an hour or two
        partition: {choices: [debug, long], default: debug}
        cores: {value: 1}
        memory: {value: 1G}
        walltime: {min: 10m, max: 2h, default: 1h}
      - name: custom
        title: Custom
        partition: {choices: [debug, long], default: debug}
        account: {choices: [proj1, proj2]}
        cores: {min: 1, max: 4, default: 2}
        memory: {min: 512M, max: 8G, default: 2G}
        gpus: {min: 0, max: 0, default: 0}
        walltime: {min: 10m, max: 72h, default: 4h}
      - name: gpu
        title: GPU
        partition: {value: gpu}
        gpus: {min: 1, max: 2, default: 1}
        allowed_groups: ["` + groupGPU + `"]
  - name: other
    title: Other PBS
    scheduler: pbs
    login: {host: 127.0.0.1, port: 2222, known_hosts: /dev/null, user_ca_key: /dev/null}
    profiles:
      - name: small
        partition: {value: workq}
`

// clock is a settable clock shared by the server and the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is one test's hub: the web server on a loopback port with a real
// SQLite store, the fake hub and the fake directory.
type env struct {
	t      testing.TB
	srv    *Server
	ts     *httptest.Server
	store  *store.Store
	hub    *fakeHub
	clock  *clock
	cfg    *config.Config
	base   string
	secret []byte
}

type envOption func(*Options, *siteSettings)

type siteSettings struct {
	baseURL     string
	adminAccess bool
	debug       bool
	services    string // a services: section appended to the site file
	named       *config.NamedServers
	// trustedProxies is hub.trusted_proxies.
	trustedProxies []string
}

// withServices adds the site's services (YAML of the services: list) and
// their runtimes.
func withServices(yaml string, rts map[string]ServiceRuntime) envOption {
	return func(o *Options, s *siteSettings) {
		s.services = yaml
		o.Services = rts
	}
}

// withNamedServers sets named_servers: enabled, with limit_per_user limit.
func withNamedServers(limit int) envOption {
	return func(_ *Options, s *siteSettings) { s.named = &config.NamedServers{Enabled: true, LimitPerUser: limit} }
}

// withDebugEndpoints sets hub.debug_endpoints.
func withDebugEndpoints() envOption {
	return func(_ *Options, s *siteSettings) { s.debug = true }
}

func withBaseURL(b string) envOption {
	return func(_ *Options, s *siteSettings) { s.baseURL = b }
}

func withWorkshops(w Workshops) envOption {
	return func(o *Options, _ *siteSettings) { o.Workshops = w }
}

func withAdminAccess() envOption {
	return func(_ *Options, s *siteSettings) { s.adminAccess = true }
}

// withLogger gives the web layer logger l instead of a silent one.
func withLogger(l *slog.Logger) envOption {
	return func(o *Options, _ *siteSettings) { o.Logger = l }
}

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	site := siteSettings{baseURL: "/"}
	o := Options{}
	for _, f := range opts {
		f(&o, &site)
	}
	yaml := fmt.Sprintf(siteYAML, site.baseURL, site.adminAccess)
	if site.services != "" {
		yaml += "services:\n" + site.services
	}
	cfg, err := config.Parse("test.yaml", []byte(yaml), schedulers.Kinds...)
	if err != nil {
		t.Fatalf("parse test site: %v", err)
	}
	cfg.Hub.DebugEndpoints = site.debug
	cfg.Hub.TrustedProxies = site.trustedProxies
	if site.named != nil {
		cfg.NamedServers = *site.named
	}
	clk := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.OpenWith(context.Background(), "sqlite://"+t.TempDir()+"/hub.sqlite", store.OpenOptions{Now: clk.Now, Logger: quiet})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, store: st, hub: &fakeHub{cfg: cfg}, clock: clk, cfg: cfg, base: site.baseURL,
		secret: []byte("0123456789abcdef0123456789abcdef-test-secret")}
	o.Config, o.Store, o.Hub = cfg, st, e.hub
	if o.Auth == nil {
		o.Auth = &fakeAuth{AuthenticateFn: directoryAuth}
	}
	if o.Logger == nil {
		o.Logger = quiet
	}
	o.CookieSecret = e.secret
	o.Version = "1.2.3-test"
	o.Templates = templates.FS
	o.Now = clk.Now
	if o.KeepAlive == 0 {
		o.KeepAlive = 8 * time.Second
	}
	e.srv, err = New(o)
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	return e
}

// url is a path under the test server (and base_url).
func (e *env) url(path string) string {
	return e.ts.URL + strings.TrimSuffix(e.base, "/") + path
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so tests see each one.
type browser struct {
	*http.Client
	e *env
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, Client: &http.Client{
		Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// do sends a request and returns the response with its body read.
func (b *browser) do(method, path string, body io.Reader, header http.Header) (*http.Response, string) {
	b.e.t.Helper()
	req, err := http.NewRequest(method, b.e.url(path), body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
	}
	resp, err := b.Do(req)
	if err != nil {
		b.e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.e.t.Fatalf("read %s %s: %v", method, path, err)
	}
	return resp, string(data)
}

func (b *browser) get(path string) (*http.Response, string) {
	return b.do("GET", path, nil, nil)
}

// post sends a form as a browser on the hub's page would (same Origin).
func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	return b.do("POST", path, strings.NewReader(form.Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"},
		"Origin":       {b.e.ts.URL},
	})
}

var reXSRF = regexp.MustCompile(`name="_xsrf" value="([^"]+)"`)

// xsrf fetches a page and returns the synchronizer token in its form.
func (b *browser) xsrf(path string) string {
	b.e.t.Helper()
	resp, body := b.get(path)
	m := reXSRF.FindStringSubmatch(body)
	if m == nil {
		b.e.t.Fatalf("GET %s (%d): no _xsrf field in the page", path, resp.StatusCode)
	}
	return m[1]
}

// login logs the browser in and fails the test if that does not work.
func (b *browser) login(user, password string) {
	b.e.t.Helper()
	tok := b.xsrf("/hub/login")
	resp, body := b.post("/hub/login", url.Values{"_xsrf": {tok}, "username": {user}, "password": {password}})
	if resp.StatusCode != http.StatusFound {
		b.e.t.Fatalf("login %s: status %d, want 302\n%s", user, resp.StatusCode, body)
	}
}

// cookie returns the browser's session cookie value.
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.e.url("/hub/"))
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// apiToken makes an API token for user directly in the store.
func (e *env) apiToken(user string, kind string, serverID int64, expires time.Time) string {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.store.EnsureUser(ctx, user); err != nil {
		e.t.Fatal(err)
	}
	if d, ok := directory[user]; ok {
		if _, err := e.store.UpsertUser(ctx, gateway.User{Name: user, Admin: d.admin, Groups: d.groups}); err != nil {
			e.t.Fatal(err)
		}
	}
	plain, _, err := e.store.NewToken(ctx, gateway.TokenSpec{User: user, Kind: kind, ServerID: serverID, Expires: expires})
	if err != nil {
		e.t.Fatalf("new %s token for %s: %v", kind, user, err)
	}
	return plain
}

// serverToken records a spawn of user's default server in the store and
// returns the server's API token, as the lifecycle would.
func (e *env) serverToken(user string) string {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.store.EnsureUser(ctx, user); err != nil {
		e.t.Fatal(err)
	}
	srv, err := e.store.StartServer(ctx, gateway.NewServer{User: user, Cluster: "local", Profile: "small",
		JobName: "hpcgate-" + user + "--" + fmt.Sprint(time.Now().UnixNano())})
	if err != nil {
		e.t.Fatalf("start server of %s: %v", user, err)
	}
	plain, _, err := e.store.NewToken(ctx, gateway.TokenSpec{User: user, Kind: gateway.TokenServer, ServerID: srv.ID,
		Scopes: gateway.ServerScopes(user, "")})
	if err != nil {
		e.t.Fatalf("new server token for %s: %v", user, err)
	}
	return plain
}

// api sends an API request with a token.
func (e *env) api(method, path, token string, body string) (*http.Response, string) {
	e.t.Helper()
	b := e.browser()
	h := http.Header{"Accept": {"application/json"}}
	if token != "" {
		h.Set("Authorization", "token "+token)
	}
	if body != "" {
		h.Set("Content-Type", "application/json")
	}
	return b.do(method, path, strings.NewReader(body), h)
}

// queued is a server waiting in the queue, as the fake hub reports it.
func queued(user string, now time.Time) *gateway.ServerInfo {
	return &gateway.ServerInfo{
		User: user, Cluster: "local", Profile: "custom", State: gateway.StateQueued,
		JobID: "4242", JobName: "hpcgate-" + user + "--1", Reason: "Resources",
		Resources: config.Resources{Cores: 2, Walltime: 4 * time.Hour},
		Submitted: now.Add(-3 * time.Minute), EstimatedStart: now.Add(20 * time.Minute),
		URL: "/user/" + user + "/",
	}
}

// named is info as user's server name.
func named(info *gateway.ServerInfo, name string) *gateway.ServerInfo {
	info.Name, info.URL = name, "/user/"+info.User+"/"+name+"/"
	info.JobName += "-" + name
	return info
}

// ready is a running server.
func ready(user string, now time.Time) *gateway.ServerInfo {
	s := queued(user, now)
	s.State, s.Reason, s.Node = gateway.StateReady, "", "c1"
	s.Started, s.Ready, s.LastActivity = now.Add(-time.Hour), now.Add(-59*time.Minute), now.Add(-5*time.Minute)
	return s
}

// serverIs makes the fake hub report info for its user and nothing for
// the others.
func (e *env) serverIs(infos ...*gateway.ServerInfo) {
	e.hub.ServerFn = func(_ context.Context, user, server string) (*gateway.ServerInfo, error) {
		for _, info := range infos {
			if info.User == user && info.Name == server {
				c := *info
				return &c, nil
			}
		}
		return nil, gateway.Errorf(gateway.ENOTFOUND, "%s has no server %q", user, server)
	}
	e.hub.ServersFn = func(context.Context) ([]*gateway.ServerInfo, error) { return infos, nil }
}
