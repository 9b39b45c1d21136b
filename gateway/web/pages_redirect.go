package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// Links into a user's own server: /hub/user-redirect/<path> sends
// whoever follows it to <path> on their own server, as JupyterHub does
// (course links, nbgitpuller-style links: one URL for every student).
// A server that is not running is not started by following a link: the
// spawn form opens with the site's default profile selected, and the
// path, with its query string, is carried through the form and the
// progress page to the server once it is ready. A GET that submitted a
// batch job would spend the user's allocation on a link in an e-mail.

// userRedirect is GET /hub/user-redirect/*path.
func (s *Server) userRedirectLink(c *gin.Context) {
	id := who(c)
	next := s.base + "user/" + url.PathEscape(id.Name) + "/" + strings.TrimPrefix(c.Param("path"), "/")
	if q := c.Request.URL.RawQuery; q != "" {
		next += "?" + q
	}
	info, err := s.hub.Server(c.Request.Context(), id.Name, "")
	switch {
	case err == nil && info.State == gateway.StateReady:
		c.Redirect(http.StatusFound, next)
	case err == nil && info.Pending() == "spawn":
		c.Redirect(http.StatusFound, s.hubPrefix+"spawn-pending/"+url.PathEscape(id.Name)+"?next="+url.QueryEscape(next))
	case err != nil && gateway.ErrorCode(err) != gateway.ENOTFOUND:
		s.failPage(c, err)
	default:
		c.Redirect(http.StatusFound, s.hubPrefix+"spawn?next="+url.QueryEscape(next))
	}
}

// serverNext is next when it is a path on owner's own server, else "":
// the spawn flow carries it to a redirect, which must never leave the
// owner's server (another site, or another user's server).
func (s *Server) serverNext(owner, next string) string {
	next = s.safeNext(next)
	if !strings.HasPrefix(next, s.base+"user/"+url.PathEscape(owner)+"/") || len(next) > 4096 {
		return ""
	}
	return next
}

// serverNextOf is serverNext for one server: a named server's pages lead
// into that server only (/user/<owner>/<server>/…), never to the default
// server or another one, whose path the query may name.
func (s *Server) serverNextOf(owner, server, next string) string {
	next = s.serverNext(owner, next)
	if server != "" && !strings.HasPrefix(next, s.base+"user/"+url.PathEscape(owner)+"/"+url.PathEscape(server)+"/") {
		return ""
	}
	return next
}

// withNext appends a safe next to a hub URL.
func (s *Server) withNext(u, owner, next string) string {
	if next = s.serverNext(owner, next); next == "" {
		return u
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "next=" + url.QueryEscape(next)
}
