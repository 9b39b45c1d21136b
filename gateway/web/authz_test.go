package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"hpcgate/gateway"
	"hpcgate/gateway/config"
)

// The callers of the route matrix, in the order of a row's statuses.
const (
	anon    = iota // no credentials
	user           // alice's browser session; alice owns the server
	other          // bob's browser session
	admin          // carol's browser session; the site has admin_access
	metrics        // bob's API token made with -scopes read:metrics
	server         // alice's server's own token (JUPYTERHUB_API_TOKEN)
	oauth          // bob's OAuth token, issued to bob's server
	nCallers
)

var callerNames = [nCallers]string{"anonymous", "user", "other user", "admin", "read:metrics token", "server token", "OAuth token of another server"}

// authzMatrix is the expected status of every route (method and gin's
// pattern; ANY for the /user/ proxy, which takes every method) for each
// caller, with :user = alice, :id = one of alice's tokens, :cluster =
// local. Adding a route to the router without a row here fails
// TestRouteAuthorization: every route's authorization is reviewed.
//
// A caller holding a scope only on other users' resources gets 404, not
// 403, as from JupyterHub 3.0: bob cannot learn whether alice exists.
var authzMatrix = map[string][nCallers]int{
	//                                       anon user other admin metrics server oauth
	"GET /":                                {302, 302, 302, 302, 302, 302, 302},
	"GET /hub":                             {302, 302, 302, 302, 302, 302, 302},
	"GET /hub/static/*file":                {200, 200, 200, 200, 200, 200, 200},
	"GET /hub/logo":                        {200, 200, 200, 200, 200, 200, 200},
	"GET /hub/health":                      {200, 200, 200, 200, 200, 200, 200},
	"GET /hub/":                            {302, 302, 302, 302, 302, 302, 302},
	"GET /hub/login":                       {200, 302, 302, 302, 200, 200, 200},
	"POST /hub/login":                      {403, 403, 403, 403, 403, 403, 403},
	"GET /hub/logout":                      {302, 200, 200, 200, 302, 302, 302},
	"POST /hub/logout":                     {403, 302, 302, 302, 403, 403, 403},
	"POST /hub/security/csp-report":        {204, 204, 204, 204, 204, 204, 204},
	"GET /hub/home":                        {302, 200, 200, 200, 302, 302, 302},
	"POST /hub/stop/:user":                 {302, 303, 403, 303, 302, 302, 302},
	"GET /hub/spawn":                       {302, 303, 200, 200, 302, 302, 302},
	"POST /hub/spawn":                      {302, 303, 303, 303, 302, 302, 302},
	"GET /hub/spawn/:user":                 {302, 303, 403, 303, 302, 302, 302},
	"POST /hub/spawn/:user":                {302, 303, 403, 303, 302, 302, 302},
	"GET /hub/spawn-pending/:user":         {302, 302, 403, 302, 302, 302, 302},
	"POST /hub/spawn-pending/:user/cancel": {302, 303, 403, 303, 302, 302, 302},
	// A named server's pages: alice's gpu is ready, so its spawn form
	// and pending page lead to it.
	"POST /hub/stop/:user/:name":                 {302, 303, 403, 303, 302, 302, 302},
	"GET /hub/spawn/:user/:name":                 {302, 303, 403, 303, 302, 302, 302},
	"POST /hub/spawn/:user/:name":                {302, 303, 403, 303, 302, 302, 302},
	"GET /hub/spawn-pending/:user/:name":         {302, 302, 403, 302, 302, 302, 302},
	"POST /hub/spawn-pending/:user/:name/cancel": {302, 303, 403, 303, 302, 302, 302},
	"GET /hub/user/:user/*path":                  {302, 302, 403, 302, 302, 302, 302},
	// Always the caller's own server: to it, or to the spawn form.
	"GET /hub/user-redirect/*path": {302, 302, 302, 302, 302, 302, 302},
	"GET /hub/token":               {302, 200, 200, 200, 302, 302, 302},
	"POST /hub/token":              {302, 200, 200, 200, 302, 302, 302},
	// The page revokes the viewer's own tokens: alice's is not bob's or
	// carol's to revoke there.
	"POST /hub/token/:id/revoke":         {302, 303, 404, 404, 302, 302, 302},
	"GET /hub/api":                       {200, 200, 200, 200, 200, 200, 200},
	"GET /hub/api/":                      {200, 200, 200, 200, 200, 200, 200},
	"GET /hub/api/user":                  {403, 200, 200, 200, 200, 200, 200},
	"GET /hub/api/oauth2/authorize":      {302, 302, 403, 200, 302, 302, 302}, // the admin confirms first
	"POST /hub/api/oauth2/token":         {400, 400, 400, 400, 400, 400, 400},
	"POST /hub/api/users/:user/activity": {403, 200, 404, 200, 403, 200, 403},
	"GET /hub/api/users":                 {403, 403, 403, 200, 403, 403, 403},
	"GET /hub/api/info":                  {403, 403, 403, 200, 403, 403, 403},
	"GET /hub/api/proxy":                 {403, 403, 403, 200, 403, 403, 403},
	// Any token may look up a token (JupyterHub's @token_authenticated);
	// a browser's cookie may not.
	"GET /hub/api/authorizations/token/:token": {403, 403, 403, 403, 200, 200, 200},
	"GET /hub/api/users/:user":                 {403, 200, 404, 200, 403, 403, 403},
	"POST /hub/api/users/:user/server":         {403, 400, 404, 400, 403, 403, 403},
	"DELETE /hub/api/users/:user/server":       {403, 202, 404, 202, 403, 403, 403},
	"GET /hub/api/users/:user/server/progress": {403, 200, 404, 200, 403, 403, 403},
	// :name is gpu, alice's ready named server; her default server's
	// own token has no rights on it.
	"POST /hub/api/users/:user/servers/:name":         {403, 400, 404, 400, 403, 403, 403},
	"DELETE /hub/api/users/:user/servers/:name":       {403, 202, 404, 202, 403, 403, 403},
	"GET /hub/api/users/:user/servers/:name/progress": {403, 200, 404, 200, 403, 403, 403},
	"GET /hub/api/users/:user/tokens":                 {403, 200, 404, 200, 403, 403, 403},
	"POST /hub/api/users/:user/tokens":                {403, 201, 404, 201, 403, 403, 403},
	"GET /hub/api/users/:user/tokens/:id":             {403, 200, 404, 200, 403, 403, 403},
	"DELETE /hub/api/users/:user/tokens/:id":          {403, 204, 404, 204, 403, 403, 403},
	// User management and groups: admins only (admin:users,
	// delete:users, admin:groups). The admin's 400s and 409s are the
	// handlers' answers to the matrix's bodies ({} or none) and to alice,
	// who exists and whose server is running; :group = course1, a hub
	// group of alice's (DELETE gets a fresh group each time).
	"POST /hub/api/users":                            {403, 403, 403, 400, 403, 403, 403},
	"POST /hub/api/users/:user":                      {403, 403, 403, 409, 403, 403, 403},
	"PATCH /hub/api/users/:user":                     {403, 403, 403, 200, 403, 403, 403},
	"DELETE /hub/api/users/:user":                    {403, 403, 403, 400, 403, 403, 403},
	"GET /hub/api/groups":                            {403, 403, 403, 200, 403, 403, 403},
	"POST /hub/api/groups":                           {403, 403, 403, 400, 403, 403, 403},
	"GET /hub/api/groups/:group":                     {403, 403, 403, 200, 403, 403, 403},
	"POST /hub/api/groups/:group":                    {403, 403, 403, 409, 403, 403, 403},
	"DELETE /hub/api/groups/:group":                  {403, 403, 403, 204, 403, 403, 403},
	"POST /hub/api/groups/:group/users":              {403, 403, 403, 400, 403, 403, 403},
	"DELETE /hub/api/groups/:group/users":            {403, 403, 403, 400, 403, 403, 403},
	"GET /hub/admin":                                 {302, 403, 403, 200, 403, 403, 403},
	"POST /hub/admin/start":                          {302, 403, 403, 303, 403, 403, 403},
	"POST /hub/admin/users/:user/stop":               {302, 403, 403, 303, 403, 403, 403},
	"POST /hub/admin/users/:user/servers/:name/stop": {302, 403, 403, 303, 403, 403, 403},
	"GET /hub/admin/stop-all":                        {302, 403, 403, 200, 403, 403, 403},
	"POST /hub/admin/stop-all":                       {302, 403, 403, 303, 403, 403, 403},
	"GET /hub/admin/queue/:cluster":                  {302, 403, 403, 200, 403, 403, 403},
	"GET /hub/api/admin/servers":                     {403, 403, 403, 200, 403, 403, 403},
	"GET /hub/api/clusters":                          {403, 403, 403, 200, 403, 403, 403},
	"GET /hub/api/clusters/:cluster/queue":           {403, 403, 403, 200, 403, 403, 403},
	"GET /hub/api/clusters/:cluster/queue-waits":     {403, 403, 403, 200, 403, 403, 403},
	"GET /hub/metrics":                               {403, 403, 403, 200, 200, 403, 403},
	"GET /hub/debug/pprof/*name":                     {403, 403, 403, 200, 403, 403, 403},
	"ANY /user/:user":                                {302, 302, 302, 302, 302, 302, 302},
	// Workshop "course" (fakeWorkshops): bob teaches it, dave attends
	// it; alice does not, so bob may not open her server, and no admin
	// is an instructor for being an admin. The API takes a session or a
	// token inheriting its owner's rights, never a server's or OAuth one.
	"POST /hub/workshops/:workshop/spawn":      {302, 403, 403, 403, 302, 302, 302},
	"GET /hub/workshops/:workshop":             {302, 403, 200, 403, 302, 302, 302},
	"POST /hub/workshops/:workshop/start":      {302, 403, 303, 403, 302, 302, 302},
	"POST /hub/workshops/:workshop/stop":       {302, 403, 303, 403, 302, 302, 302},
	"POST /hub/workshops/:workshop/open/:user": {302, 403, 403, 403, 302, 302, 302},
	"GET /hub/workshops/:workshop/open/:user":  {302, 303, 303, 303, 302, 302, 302},
	"GET /hub/api/workshops/:workshop":         {403, 403, 200, 403, 403, 403, 403},
	"GET /hub/api/workshops/:workshop/usage":   {403, 403, 200, 403, 403, 403, 403},
	// The proxy answers 200 (the fake server); the gate lets through
	// the owner, the admin (admin_access) and the server's own token.
	"ANY /user/:user/*path": {302, 200, 403, 200, 403, 200, 403},
	// Services (services.go): the REST models are the admin role's
	// (list:services, read:services); /services/ is proxied for anyone,
	// as JupyterHub's proxy does, the service deciding who it serves;
	// the OAuth confirmation is a form of a logged-in browser's.
	"GET /hub/api/services":          {403, 403, 403, 200, 403, 403, 403},
	"GET /hub/api/services/:service": {403, 403, 403, 200, 403, 403, 403},
	"POST /hub/api/oauth2/authorize": {403, 302, 302, 302, 403, 403, 403},
	"ANY /services/:service":         {302, 302, 302, 302, 302, 302, 302},
	"ANY /services/:service/*path":   {200, 200, 200, 200, 200, 200, 200},
}

// authzService is the matrix's service: whoami, proxied to a handler
// that answers 200.
const authzService = `  - name: whoami
    url: http://127.0.0.1:10101
    api_token_file: /dev/null
`

// TestRouteAuthorization sends every route of the router as each caller
// and checks the status against authzMatrix.
func TestRouteAuthorization(t *testing.T) {
	e := authzEnv(t)
	seen := map[string]bool{}
	for _, r := range e.srv.engine.Routes() {
		key := r.Method + " " + r.Path
		if strings.HasPrefix(r.Path, "/user/") || strings.HasPrefix(r.Path, "/services/") {
			key = "ANY " + r.Path
		}
		want, ok := authzMatrix[key]
		if !ok {
			t.Errorf("route %s %s has no row in authzMatrix: review who may call it and add one", r.Method, r.Path)
			continue
		}
		seen[key] = true
		if r.Method == http.MethodConnect {
			// A client sends CONNECT for a host, not a path; net/http
			// cannot address a route with it.
			continue
		}
		for c := 0; c < nCallers; c++ {
			status, body := e.call(c, r.Method, r.Path)
			if status != want[c] {
				t.Errorf("%s %s as %s: status %d, want %d\n%.300s", r.Method, r.Path, callerNames[c], status, want[c], body)
			}
		}
	}
	for key := range authzMatrix {
		if !seen[key] {
			t.Errorf("authzMatrix has %q, which the router does not serve", key)
		}
	}
}

// authzWorld is the hub of the matrix: alice has a ready server, bob's
// server's OAuth client has issued bob a token.
type authzWorld struct {
	*env
	metricsToken, serverToken, oauthToken string
	groups                                int // groups made to be deleted
}

func authzEnv(t *testing.T) *authzWorld {
	e := newEnv(t, withAdminAccess(), withMetrics(gateway.NewMetrics()), withWorkshops(newFakeWorkshops()), withDebugEndpoints(), withNamedServers(0),
		withServices(authzService, map[string]ServiceRuntime{"whoami": {Token: "whoami-service-token",
			Proxy: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "the service") })}}))
	ctx := context.Background()
	now := e.clock.Now()
	e.serverIs(ready("alice", now), named(ready("alice", now), "gpu"))
	e.hub.ClustersFn = func() []*config.Cluster {
		var out []*config.Cluster
		for i := range e.cfg.Clusters {
			out = append(out, &e.cfg.Clusters[i])
		}
		return out
	}
	e.hub.SpawnFn = func(_ context.Context, req gateway.SpawnRequest) (*gateway.ServerInfo, error) {
		return queued(req.User, now), nil
	}
	e.hub.StopFn = func(context.Context, string, string, string) error { return nil }
	e.hub.SubscribeFn = func(string, string) (<-chan gateway.Progress, func()) {
		ch := make(chan gateway.Progress)
		close(ch)
		return ch, func() {}
	}
	e.hub.QueueFn = func(string) (gateway.QueueSnapshot, error) { return gateway.QueueSnapshot{}, nil }
	e.hub.QueueWaitsFn = func(context.Context, time.Time) ([]gateway.QueueWait, error) { return nil, nil }
	e.hub.RecordActivityFn = func(context.Context, string, string, time.Time) error { return nil }
	e.hub.ServeProxyFn = func(w http.ResponseWriter, r *http.Request, user, server string) {
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "proxied to %s", user)
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		if _, err := e.store.UpsertUser(ctx, gateway.User{Name: u, Admin: directory[u].admin, Groups: directory[u].groups}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.store.CreateGroup(ctx, "course1", []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	w := &authzWorld{env: e}
	var err error
	if w.metricsToken, _, err = e.store.NewToken(ctx, gateway.TokenSpec{User: "bob", Kind: gateway.TokenAPI, Scopes: []string{metricsScope}}); err != nil {
		t.Fatal(err)
	}
	w.serverToken = e.serverToken("alice")
	sess, err := e.store.CreateSession(ctx, "bob", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if w.oauthToken, _, err = e.store.NewToken(ctx, gateway.TokenSpec{User: "bob", Kind: gateway.TokenOAuth,
		Scopes: grantScopes("bob", "bob", ""), SessionID: sess, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return w
}

var callerLogins = map[int]string{user: "alice", other: "bob", admin: "carol"}

// call sends one request to the route as caller c, with a fresh session
// (a logout or a revoked token must not spill into the next cell) and what
// a legitimate client of the route would send with it: the XSRF token for
// a session, a form or body the handler reads.
func (w *authzWorld) call(c int, method, pattern string) (int, string) {
	w.t.Helper()
	ctx := context.Background()
	targetPlain, target, err := w.store.NewToken(ctx, gateway.TokenSpec{User: "alice", Kind: gateway.TokenAPI, Note: "target"})
	if err != nil {
		w.t.Fatal(err)
	}
	tokenID := strconv.FormatInt(target.ID, 10)
	group := "course1"
	if method == http.MethodDelete && pattern == "/hub/api/groups/:group" {
		// Deleting course1 would change the cells after this one.
		w.groups++
		group = fmt.Sprintf("doomed%d", w.groups)
		if _, err := w.store.CreateGroup(ctx, group, nil); err != nil {
			w.t.Fatal(err)
		}
	}

	path := strings.NewReplacer(":user", "alice", ":id", tokenID, ":group", group, ":token", targetPlain, ":cluster", "local", ":workshop", "course", ":name", "gpu",
		"*file", "hpcgate.js", "*path", "tree", "*name", "cmdline", ":service", "whoami").Replace(pattern)
	b := w.browser()
	h := http.Header{}
	xsrf := ""
	switch c {
	case user, other, admin:
		name := callerLogins[c]
		b.login(name, directory[name].password)
		xsrf = b.xsrf("/hub/token")
		h.Set("X-XSRFToken", xsrf)
	case metrics:
		h.Set("Authorization", "token "+w.metricsToken)
	case server:
		h.Set("Authorization", "token "+w.serverToken)
	case oauth:
		h.Set("Authorization", "token "+w.oauthToken)
	}
	var body io.Reader
	switch {
	case pattern == "/hub/api/oauth2/authorize" && method == http.MethodPost:
		// The confirmation page's form, for the service's client.
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		h.Set("Origin", w.ts.URL)
		body = strings.NewReader(url.Values{"_xsrf": {xsrf}, "client_id": {"service-whoami"},
			"redirect_uri": {"/services/whoami/oauth_callback"}, "response_type": {"code"}, "state": {"s"}}.Encode())
	case pattern == "/hub/api/oauth2/authorize":
		path += "?" + url.Values{"client_id": {"jupyterhub-user-alice"}, "redirect_uri": {"/user/alice/oauth_callback"},
			"response_type": {"code"}, "state": {"s"}}.Encode()
	case strings.HasPrefix(pattern, "/hub/api/"), pattern == "/hub/security/csp-report":
		h.Set("Accept", "application/json")
		if method == http.MethodPost {
			h.Set("Content-Type", "application/json")
			body = strings.NewReader("{}")
		}
	case method == http.MethodPost:
		form := url.Values{"_xsrf": {xsrf}, "user": {"alice"}, "note": {"matrix"}, "expires_in": {"3600"},
			"cluster": {"local"}, "profile": {"small"}}
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		h.Set("Origin", w.ts.URL)
		body = strings.NewReader(form.Encode())
	}
	resp, text := b.do(method, path, body, h)
	return resp.StatusCode, text
}
