package web

import (
	"net/http"
	"net/http/pprof" // also registers on http.DefaultServeMux, which the hub never serves
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// servePprof is GET /hub/debug/pprof/*name: Go's profiler for admins,
// when the site sets hub.debug_endpoints (otherwise the page is not found,
// as if the route did not exist). `go tool pprof -H "Authorization: token
// T" https://hub/hub/debug/pprof/profile?seconds=30` profiles the hub
// under the centre's own load.
func (s *Server) servePprof(c *gin.Context) {
	if !s.cfg.Hub.DebugEndpoints {
		s.notFound(c)
		return
	}
	// An admin's browser session or API token; not an admin's server or
	// OAuth token, which live on compute nodes with their own scopes.
	if id := who(c); id == nil || !id.Scopes.allowsAll("admin-ui") {
		jsonError(c, http.StatusForbidden, "Action is not authorized with current scopes; requires any of [admin-ui]")
		return
	}
	// A CPU profile or trace lasts as long as asked (?seconds=); the
	// hub's write deadline is meant for its pages.
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(5 * time.Minute))
	switch name := strings.TrimPrefix(c.Param("name"), "/"); name {
	case "":
		// Index lists the profiles with links relative to this page.
		pprof.Index(c.Writer, c.Request)
	case "cmdline":
		pprof.Cmdline(c.Writer, c.Request)
	case "profile":
		pprof.Profile(c.Writer, c.Request)
	case "symbol":
		pprof.Symbol(c.Writer, c.Request)
	case "trace":
		pprof.Trace(c.Writer, c.Request)
	default:
		pprof.Handler(name).ServeHTTP(c.Writer, c.Request)
	}
}
