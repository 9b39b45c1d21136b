package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// userProxy is the first gate in front of /user/<name>/… (a named
// server's /user/<name>/<server>/… while it runs, proxiedServer): the owner (or an
// admin, when admin_access is on) goes through to the server; another
// user gets 403; a browser without a session goes to the login page and
// comes back; an API client without credentials gets 403 JSON.
//
// The single-user server still does its own OAuth and checks every token
// itself, so the owner's credentials pass on. What the owner's code must
// not see is removed: every hpcgate-* cookie (the proxy drops them), and
// any hub token of someone else (an admin's, with admin_access) in the
// Authorization header or ?token=. An admin uses the server through the
// browser's OAuth flow, whose token opens that one server only.
func (s *Server) userProxy(c *gin.Context) {
	user := c.Param("user")
	if c.Param("path") == "" {
		hubAnswer(c)
		// /user/alice → /user/alice/, as the server's base URL ends in /.
		target := gateway.UserURL(s.base, user, "")
		if q := c.Request.URL.RawQuery; q != "" {
			target += "?" + q
		}
		c.Redirect(http.StatusFound, target)
		return
	}
	id, server := who(c), s.proxiedServer(user, c.Param("path"))
	if id == nil || !s.mayAccessServer(id, user, server) {
		hubAnswer(c)
	}
	switch {
	case id == nil && wantsHTML(c.Request) && c.GetHeader("Authorization") == "":
		s.redirectToLogin(c)
		return
	case id == nil:
		jsonError(c, http.StatusForbidden, "Missing or invalid credentials")
		return
	case !s.mayAccessServer(id, user, server):
		s.log.WarnContext(c.Request.Context(), "refused access to another user's server", "user", id.Name, "owner", user, "server", server, "path", c.Request.URL.Path)
		if wantsHTML(c.Request) {
			s.errorPage(c, http.StatusForbidden, "This server belongs to "+user+"; you may not use it.")
			return
		}
		jsonError(c, http.StatusForbidden, "user "+id.Name+" is not allowed to access the server of "+user)
		return
	}
	if id.Name != user && s.workshops != nil && slices.Contains(s.workshops.InstructorGrants(id.Groups), user) {
		// An instructor's visit: the attendee sees it on their home page.
		s.workshops.NoteInstructorVisit(c.Request.Context(), id.Name, user)
	}
	if err := s.dropForeignTokens(c.Request, user, id); err != nil {
		hubAnswer(c)
		s.fail(c, fmt.Errorf("check the credentials sent to the server of %s: %w", user, err))
		return
	}
	c.Abort() // the proxy writes the response; nothing else may
	s.hub.ServeProxy(c.Writer, c.Request, user, server)
}

// hubAnswer gives a response the hub writes itself under /user/ its
// headers; a proxied response carries the server's own (commonHeaders
// leaves /user/ alone).
func hubAnswer(c *gin.Context) {
	h := c.Writer.Header()
	h["X-Jupyterhub-Version"] = jupyterHubVersionHeader
	h["Cache-Control"] = noStore
}

// Header values set on many responses, shared: net/http copies a
// handler's headers before writing them and never changes the values.
var (
	jupyterHubVersionHeader = []string{JupyterHubVersion}
	noStore                 = []string{"no-store"}
)

// proxiedServer is the server a request for /user/<user><path> goes to,
// as JupyterHub's proxy decides by the longest route prefix: the named
// server of path's first segment while it has a route (it is running),
// the default server otherwise. A path of the default server that begins
// with a name of a stopped named server stays the default server's.
func (s *Server) proxiedServer(user, path string) string {
	if !s.cfg.NamedServers.Enabled {
		return ""
	}
	seg, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if seg == "" || gateway.ValidServerName(seg) != nil || !s.hub.HasRoute(user, seg) {
		return ""
	}
	return seg
}

// dropForeignTokens removes from r the hub tokens that belong to someone
// other than owner: the Authorization header, and each token= of the
// query (the rest of the query goes on byte for byte). A token the hub
// does not know is the server's business and stays.
func (s *Server) dropForeignTokens(r *http.Request, owner string, id *identity) error {
	foreign := func(plain string) (bool, error) {
		t, err := s.store.LookupToken(r.Context(), plain)
		switch {
		case isNotFound(err):
			return false, nil
		case err != nil:
			return false, err
		}
		return t.User != owner, nil
	}
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " "); ok &&
			(strings.EqualFold(scheme, "token") || strings.EqualFold(scheme, "bearer")) {
			plain := strings.TrimSpace(rest)
			var drop bool
			var err error
			if plain != "" && id.Token != nil && !id.ViaCookie {
				// identifyWith took the identity from this very token
				// (requestToken reads the header before ?token=): no
				// second lookup.
				drop = id.Token.User != owner
			} else {
				drop, err = foreign(plain)
			}
			if err != nil {
				return err
			}
			if drop {
				r.Header.Del("Authorization")
			}
		}
	}
	if !strings.Contains(r.URL.RawQuery, "token=") {
		return nil
	}
	parts := strings.Split(r.URL.RawQuery, "&")
	kept := parts[:0]
	for _, p := range parts {
		if k, v, ok := strings.Cut(p, "="); ok && k == "token" {
			plain, err := url.QueryUnescape(v)
			if err == nil {
				drop, err := foreign(plain)
				if err != nil {
					return err
				}
				if drop {
					continue
				}
			}
		}
		kept = append(kept, p)
	}
	r.URL.RawQuery = strings.Join(kept, "&")
	r.RequestURI = r.URL.RequestURI()
	return nil
}
