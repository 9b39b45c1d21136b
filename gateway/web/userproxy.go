package web

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
)

// userProxy is the first gate in front of /user/<name>/…: the owner (or an
// admin, when admin_access is on) goes through to the server; another
// user gets 403; a browser without a session goes to the login page and
// comes back; an API client without credentials gets 403 JSON.
//
// The single-user server still does its own OAuth and checks every token
// itself, so the request is passed on untouched: the Authorization header
// and ?token= stay, cookies stay.
func (s *Server) userProxy(c *gin.Context) {
	user := c.Param("user")
	// The hub's own answers here carry its headers; a proxied response
	// carries the server's (commonHeaders leaves /user/ alone).
	c.Header("X-JupyterHub-Version", JupyterHubVersion)
	c.Header("Cache-Control", "no-store")
	if c.Param("path") == "" {
		// /user/alice → /user/alice/, as the server's base URL ends in /.
		target := s.base + "user/" + url.PathEscape(user) + "/"
		if q := c.Request.URL.RawQuery; q != "" {
			target += "?" + q
		}
		c.Redirect(http.StatusFound, target)
		return
	}
	id := who(c)
	switch {
	case id == nil && wantsHTML(c.Request) && c.GetHeader("Authorization") == "":
		s.redirectToLogin(c)
		return
	case id == nil:
		jsonError(c, http.StatusForbidden, "Missing or invalid credentials")
		return
	case !s.mayAccess(id, user):
		s.log.WarnContext(c.Request.Context(), "refused access to another user's server", "user", id.Name, "owner", user, "path", c.Request.URL.Path)
		if wantsHTML(c.Request) {
			s.errorPage(c, http.StatusForbidden, "This server belongs to "+user+"; you may not use it.")
			return
		}
		jsonError(c, http.StatusForbidden, "user "+id.Name+" is not allowed to access the server of "+user)
		return
	}
	c.Abort() // the proxy writes the response; nothing else may
	h := c.Writer.Header()
	h.Del("X-JupyterHub-Version")
	h.Del("Cache-Control")
	s.hub.ServeProxy(c.Writer, c.Request, user, "")
}
