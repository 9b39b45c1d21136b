package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// Keys of the values identify leaves in the gin context.
const (
	ctxIdentity = "hpcgate.identity"
	ctxUserName = "hpcgate.user" // for the request log
)

// identity is who a request comes from: a browser session (cookie) or an
// API token.
type identity struct {
	// Name is the user's; empty for a service.
	Name string
	// Service is the name of the service whose API token was used.
	Service string
	// Admin is the user's admin flag: shown in models and checked by
	// the admin pages, which take only a session (ViaCookie).
	Admin  bool
	Groups []string

	// SessionID is the login session: the cookie's, or the one an OAuth
	// token was issued under.
	SessionID string
	// Expires is when a cookie's session ends.
	Expires time.Time
	// ViaCookie marks a request with the hub's session cookie, which
	// needs an XSRF token to change anything. The /user/ gate's cookie
	// does not set it: that identity holds access:servers only.
	ViaCookie bool
	// Token is the API token used, if any.
	Token *Token
	// Scopes are what this request may do (scopes.go): the user's role
	// for a session, the token's own scopes for a token. API decisions
	// ask them, never Admin.
	Scopes scopeSet
}

// may reports whether the identity holds scope on user's resources.
func (id *identity) may(scope, user string) bool {
	return id != nil && id.Scopes.allowsUser(scope, user)
}

// mayAccess reports whether the identity may use user's default server
// through /user/: access:servers on it, which the owner's session has,
// an admin's only when the site enables admin_access, and a token only
// when it was given it.
func (s *Server) mayAccess(id *identity, user string) bool {
	return s.mayAccessServer(id, user, "")
}

// mayAccessServer reports whether id may use user's server (named server,
// or "" for the default one).
func (s *Server) mayAccessServer(id *identity, user, server string) bool {
	return id != nil && id.Scopes.allowsServer("access:servers", user, server)
}

// requireServerScope is requireScope for the :user's server :name (""
// for the default one): a scope filtered to the server or to its owner
// grants it.
func requireServerScope(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if id := who(c); id != nil && id.Scopes.allowsServer(scope, c.Param("user"), c.Param("name")) {
			c.Next()
			return
		}
		refuse(c, who(c), scope)
	}
}

// requireScope answers 403 in JupyterHub's words unless the identity
// holds one of scopes on the :user of the path (or, without one,
// unfiltered).
func requireScope(scopes ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, user := who(c), c.Param("user")
		for _, sc := range scopes {
			if id != nil && (user == "" && id.Scopes.allowsAll(sc) || user != "" && id.may(sc, user)) {
				c.Next()
				return
			}
		}
		refuse(c, id, scopes...)
	}
}

// refuse answers a request the identity's scopes do not allow, as
// JupyterHub 3.0 does (scopes.py _check_scope_access): 403 when it holds
// none of the scopes, 404 when it holds one only on other resources
// (alice asking for bob), so that whether bob exists is not told.
func refuse(c *gin.Context, id *identity, scopes ...string) {
	if id != nil && c.Param("user") != "" {
		for _, sc := range scopes {
			if _, ok := id.Scopes[sc]; ok {
				jsonError(c, http.StatusNotFound, "No access to resources or resources not found")
				return
			}
		}
	}
	jsonError(c, http.StatusForbidden, "Action is not authorized with current scopes; requires any of ["+strings.Join(scopes, ", ")+"]")
}

// groupsOf names a user's groups (directory and hub) for the group
// filters of scopes; the store answers users from memory. A user it
// cannot read is in no group.
func (s *Server) groupsOf(ctx context.Context) func(user string) []string {
	return func(user string) []string {
		u, err := s.store.GetUser(ctx, user)
		if err != nil {
			if !isNotFound(err) {
				s.log.WarnContext(ctx, "read a user's groups for a group filter", "user", user, "err", err)
			}
			return nil
		}
		return u.GroupNames()
	}
}

// requireGroupScope is requireScope for the :group of the path, as
// JupyterHub 3.0 checks group routes: a scope held on every group or on
// this one passes; held only on other groups it answers 404, not held at
// all 403.
func requireGroupScope(scopes ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, group := who(c), c.Param("group")
		for _, sc := range scopes {
			if id != nil && id.Scopes.allowsGroup(sc, group) {
				c.Next()
				return
			}
		}
		for _, sc := range scopes {
			if _, ok := id.Scopes[sc]; id != nil && ok {
				jsonError(c, http.StatusNotFound, "No access to resources or resources not found")
				return
			}
		}
		jsonError(c, http.StatusForbidden, "Action is not authorized with current scopes; requires any of ["+strings.Join(scopes, ", ")+"]")
	}
}

// requireListScope passes a list route to a caller holding scope on
// anything, filtered or not: the handler lists what the filter covers,
// as JupyterHub's needs_scope does for a route that names no resource.
func requireListScope(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if id := who(c); id != nil {
			if _, ok := id.Scopes[scope]; ok {
				c.Next()
				return
			}
		}
		jsonError(c, http.StatusForbidden, "Action is not authorized with current scopes; requires any of ["+scope+"]")
	}
}

func who(c *gin.Context) *identity {
	if v, ok := c.Get(ctxIdentity); ok {
		return v.(*identity)
	}
	return nil
}

// identify finds who sent a request to the hub's pages or API, from a
// token (Authorization header or ?token=) or else the session cookie, as
// JupyterHub does, and leaves it in the context. It rejects nothing: the
// handlers and require* decide.
func (s *Server) identify(c *gin.Context) { s.identifyWith(c, sessionCookie) }

// identifyUser is identify for the /user/ gate, which takes the gate's own
// cookie instead of the session's. A token the hub does not know falls
// back to the cookie: a browser's request to /user/ may carry a header
// meant for the server.
func (s *Server) identifyUser(c *gin.Context) { s.identifyWith(c, userCookie) }

func (s *Server) identifyWith(c *gin.Context, cookie string) {
	ctx := c.Request.Context()
	if tok, ok := requestToken(c.Request); ok {
		id, err := s.identifyToken(ctx, tok)
		if err != nil {
			s.log.ErrorContext(ctx, "look up API token", "err", err)
		}
		if id != nil {
			s.setIdentity(c, id)
			c.Next()
			return
		}
	}
	if id := s.identifyCookie(c, cookie); id != nil {
		s.setIdentity(c, id)
	}
	c.Next()
}

func (s *Server) setIdentity(c *gin.Context, id *identity) {
	id.Scopes = id.Scopes.withGroups(s.groupsOf(c.Request.Context()))
	c.Set(ctxIdentity, id)
	c.Set(ctxUserName, id.Name)
}

// requestToken finds an API token the way jupyterhub-singleuser and
// JupyterHub do: "Authorization: token X" or "Bearer X" (either case),
// else the token query parameter.
func requestToken(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
		if ok && (strings.EqualFold(scheme, "token") || strings.EqualFold(scheme, "bearer")) {
			if t := strings.TrimSpace(rest); t != "" {
				return t, true
			}
		}
	}
	if t := r.URL.Query().Get("token"); t != "" {
		return t, true
	}
	return "", false
}

// requirePageUser sends browsers that are not logged in to the login page,
// coming back here afterwards. Pages are for browser sessions; a token
// does not make one.
//
// A page fetched by a script is not a browser showing it: the hub's own
// scripts fetch only the API, and a script in a user's server, running on
// the hub's origin in an admin's browser, would read the admin page's
// users and jobs. Such a request is sent to the login page instead.
func (s *Server) requirePageUser(c *gin.Context) {
	if id := who(c); id != nil && id.ViaCookie && !scripted(c.Request) {
		c.Next()
		return
	}
	s.redirectToLogin(c)
}

func (s *Server) redirectToLogin(c *gin.Context) {
	next := c.Request.URL.RequestURI()
	c.Redirect(http.StatusFound, s.hubPrefix+"login?next="+url.QueryEscape(next))
	c.Abort()
}

// requireAPIUser answers 403 to API requests without a valid token or
// session, in JupyterHub's error shape.
func (s *Server) requireAPIUser(c *gin.Context) {
	if who(c) == nil {
		jsonError(c, http.StatusForbidden, "Missing or invalid credentials")
		return
	}
	c.Next()
}

// requireAPIXSRF guards API calls that change state: a browser session
// must present the X-XSRFToken header (a cross-site page cannot read it);
// token-authenticated calls carry no ambient credentials and need none.
func (s *Server) requireAPIXSRF(c *gin.Context) {
	id := who(c)
	if id == nil || !id.ViaCookie {
		c.Next()
		return
	}
	if !s.keys.checkXSRF(xsrfSession, id.SessionID, c.GetHeader("X-XSRFToken")) {
		jsonError(c, http.StatusForbidden, "'_xsrf' argument missing from POST")
		return
	}
	c.Next()
}

// scriptNeedsXSRF counts a script's API request (scripted) with the
// session cookie as the session's only when it brings the session's XSRF
// token too, whatever its method: X-XSRFToken, or _xsrf in the query for
// an EventSource, which cannot set headers. A script in a user's server
// runs on the hub's origin with the cookie of whoever opened the server
// (an admin reading every user, an OAuth code for another user's server),
// but never got the token (xsrf). Without it the request goes on as
// anonymous. Tokens and navigations are not concerned.
func (s *Server) scriptNeedsXSRF(c *gin.Context) {
	if id := who(c); id != nil && id.ViaCookie && scripted(c.Request) {
		tok := c.GetHeader("X-XSRFToken")
		if tok == "" {
			tok = c.Query("_xsrf")
		}
		if !s.keys.checkXSRF(xsrfSession, id.SessionID, tok) {
			s.log.WarnContext(c.Request.Context(), "a script sent the session cookie without its XSRF token; taken as anonymous",
				"user", id.Name, "path", c.Request.URL.Path, "mode", c.Request.Header.Get("Sec-Fetch-Mode"))
			c.Set(ctxIdentity, (*identity)(nil))
			c.Set(ctxUserName, "")
		}
	}
	c.Next()
}

// requireForm guards every form POST of a logged-in user: the _xsrf field
// must be the session's synchronizer token and the Origin (or Referer)
// must be this hub.
func (s *Server) requireForm(c *gin.Context) {
	id := who(c)
	if id == nil {
		s.errorPage(c, http.StatusForbidden, "Your session has ended; log in again.")
		return
	}
	if !s.sameOrigin(c.Request) {
		s.errorPage(c, http.StatusForbidden, "This form was sent from another site and was refused.")
		return
	}
	if scripted(c.Request) {
		s.log.WarnContext(c.Request.Context(), "refused a form sent by a script", "user", id.Name, "path", c.Request.URL.Path,
			"mode", c.Request.Header.Get("Sec-Fetch-Mode"))
		s.errorPage(c, http.StatusForbidden, "The hub's forms are sent by the browser, not by a script; this one was refused.")
		return
	}
	if !id.ViaCookie || !s.keys.checkXSRF(xsrfSession, id.SessionID, c.PostForm("_xsrf")) {
		s.errorPage(c, http.StatusForbidden, "The form had expired or was not sent by this hub; reload the page and try again.")
		return
	}
	c.Next()
}

// sameOrigin checks the Origin header, or the Referer when a browser sent
// no Origin, against the hub's public origin or the request's own host. A
// request with neither (not from a browser) passes: the synchronizer
// token alone decides.
func (s *Server) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		ref := r.Header.Get("Referer")
		if ref == "" {
			return true
		}
		u, err := url.Parse(ref)
		if err != nil || u.Host == "" {
			return false
		}
		origin = u.Scheme + "://" + u.Host
	}
	if origin == "null" {
		return false
	}
	if s.origin != "" && strings.EqualFold(origin, s.origin) {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// xsrfPurpose strings keep the two kinds of synchronizer token apart.
const (
	xsrfSession = "session"
	xsrfLogin   = "login"
)

// scripted reports whether a browser says a script sent r (fetch or
// XMLHttpRequest: Sec-Fetch-Mode cors, same-origin or no-cors) rather than
// a navigation. Users' servers are served from the hub's own origin, so a
// script there runs, for whoever opens the server (an admin, an
// instructor), with the same-origin rights of the hub's own pages; the
// browser's Sec-Fetch-Mode is the one thing such a script cannot set.
// Clients that send no Sec-Fetch headers (curl, older browsers) are not
// scripts in a page.
func scripted(r *http.Request) bool {
	mode := r.Header.Get("Sec-Fetch-Mode")
	return mode != "" && mode != "navigate"
}

// xsrf returns the synchronizer token for the request's session, for
// templates and the X-XSRFToken header. A page fetched by a script gets
// none: with it, a script in a user's server could act as its visitor
// (create an API token, stop servers). The hub's own scripts read it from
// the page they run in, which the browser loaded as a navigation.
func (s *Server) xsrf(c *gin.Context) string {
	if scripted(c.Request) {
		return ""
	}
	if t := c.GetString(ctxLoginXSRF); t != "" {
		return t
	}
	if id := who(c); id != nil && id.ViaCookie {
		return s.keys.xsrfToken(xsrfSession, id.SessionID)
	}
	return ""
}
