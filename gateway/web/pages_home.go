package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

type homeData struct {
	Servers []*serverView
	// NamedServers offers a field to name and start a new server.
	NamedServers bool
	XSRFName     string
	Notice       string
	// Workshops are the viewer's launch cards, Teaches the workshops they
	// teach, Visits the times instructors opened their server.
	Workshops []workshopCardView
	Teaches   []string
	Visits    []*gateway.Event
	// Services are the site's services the viewer may open (services.go).
	Services []serviceLink
}

// home shows the user's server card: state, cluster, profile, job, node,
// time queued, walltime left, last activity and the buttons that apply.
func (s *Server) home(c *gin.Context) {
	id := who(c)
	// Every server of the viewer: the default one first, then the named
	// ones (their start/stop/open are on each card).
	infos, err := s.hub.ServersOf(c.Request.Context(), []string{id.Name})
	if err != nil {
		s.failPage(c, fmt.Errorf("home of %s: %w", id.Name, err))
		return
	}
	slices.SortFunc(infos, func(a, b *gateway.ServerInfo) int { return strings.Compare(a.Name, b.Name) })
	d := homeData{NamedServers: s.cfg.NamedServers.Enabled, XSRFName: s.xsrf(c)}
	for _, info := range infos {
		d.Servers = append(d.Servers, s.serverView(info, id.Name, d.XSRFName))
	}
	d.Workshops, d.Teaches, d.Visits = s.homeWorkshops(c, id)
	d.Services = s.homeServices(id)
	switch c.Query("notice") {
	case "stopping":
		d.Notice = "Your server is stopping; the batch job is being cancelled."
	}
	s.render(c, http.StatusOK, "home.html", "Home", d)
}

// pathUser returns the :user of the path if the viewer may act on it, or
// answers 403 and returns "".
func (s *Server) pathUser(c *gin.Context) string {
	user := c.Param("user")
	if user == "" {
		return who(c).Name
	}
	if !who(c).may("servers", user) {
		s.errorPage(c, http.StatusForbidden, "You may not act on the servers of "+user+".")
		return ""
	}
	return user
}

// stopForm stops (or cancels while queued) a server from the home or
// spawn-pending page.
func (s *Server) stopForm(c *gin.Context) {
	user := s.pathUser(c)
	if user == "" {
		return
	}
	id, server := who(c), c.Param("name")
	if err := s.hub.Stop(c.Request.Context(), user, server, id.Name); err != nil && gateway.ErrorCode(err) != gateway.ECONFLICT && gateway.ErrorCode(err) != gateway.ENOTFOUND {
		s.failPage(c, fmt.Errorf("stop server of %s: %w", user, err))
		return
	}
	s.log.InfoContext(c.Request.Context(), "stop requested", "user", id.Name, "owner", user)
	if user == id.Name {
		c.Redirect(http.StatusSeeOther, s.hubPrefix+"home?notice=stopping")
		return
	}
	c.Redirect(http.StatusSeeOther, s.pendingURL(user, server))
}

// spawnPending shows a server's way from submission to ready; the page
// follows the progress stream and opens the server when it is ready.
func (s *Server) spawnPending(c *gin.Context) {
	user := s.pathUser(c)
	if user == "" {
		return
	}
	ctx, server := c.Request.Context(), c.Param("name")
	info, err := s.hub.Server(ctx, user, server)
	if gateway.ErrorCode(err) == gateway.ENOTFOUND {
		target := s.spawnURL(who(c).Name, user)
		if server != "" {
			target = s.hubPrefix + "spawn/" + url.PathEscape(user) + "/" + url.PathEscape(server)
		}
		c.Redirect(http.StatusFound, target)
		return
	}
	if err != nil {
		s.failPage(c, fmt.Errorf("spawn-pending of %s: %w", user, err))
		return
	}
	next := s.serverNextOf(user, server, c.Query("next"))
	if info.State == gateway.StateReady && c.Query("stay") == "" {
		target := next
		if target == "" {
			target = s.serverURL(info)
		}
		c.Redirect(http.StatusFound, target)
		return
	}
	v := s.serverView(info, who(c).Name, s.xsrf(c))
	v.Next = next
	if info.State == gateway.StateFailed {
		if tail, err := s.hub.LogTail(ctx, user, server); err == nil {
			v.LogTail = tail
		} else {
			s.log.WarnContext(ctx, "read job log tail", "user", user, "err", err)
		}
	}
	s.render(c, http.StatusOK, "spawn_pending.html", "Starting server", v, "pending.js")
}

func (s *Server) spawnURL(viewer, user string) string {
	if viewer == user {
		return s.hubPrefix + "spawn"
	}
	return s.hubPrefix + "spawn/" + url.PathEscape(user)
}

type notRunningData struct {
	Own      bool
	Owner    string
	Server   string // a named server's name
	Reason   string
	SpawnURL string
}

// userRedirect is /hub/user/<name>/…, where the proxy sends requests for a
// server it has no route to: a running server gets the request back
// (once; a second bounce means the hub cannot reach it), a starting one
// the progress page, anything else a page offering to start it. With
// named servers, a path whose first segment names one of the user's
// servers is that server's, as in JupyterHub (UserUrlHandler).
func (s *Server) userRedirect(c *gin.Context) {
	id := who(c)
	user := c.Param("user")
	if !s.mayAccess(id, user) {
		s.errorPage(c, http.StatusForbidden, "This server belongs to "+user+".")
		return
	}
	path := c.Param("path")
	server, info, err := s.pathServer(c, user, path)
	if err != nil && gateway.ErrorCode(err) != gateway.ENOTFOUND {
		s.failPage(c, fmt.Errorf("look up server of %s: %w", user, err))
		return
	}
	// Where the request was going, without the bounce count.
	next := s.base + "user/" + url.PathEscape(user) + path
	if q := c.Request.URL.Query(); len(q) > 0 {
		q.Del("redirects")
		if len(q) > 0 {
			next += "?" + q.Encode()
		}
	}
	switch {
	case info != nil && info.State == gateway.StateReady:
		redirects, _ := strconv.Atoi(c.Query("redirects"))
		if redirects >= 2 {
			s.errorPage(c, http.StatusServiceUnavailable, "Your server is running but the hub cannot reach it right now; try again in a minute.")
			return
		}
		q := c.Request.URL.Query()
		q.Set("redirects", strconv.Itoa(redirects+1))
		rest := path
		if server != "" {
			rest = strings.TrimPrefix(path, "/"+server)
		}
		target := strings.TrimSuffix(s.serverURL(info), "/") + rest
		c.Redirect(http.StatusFound, target+"?"+q.Encode())
	case info != nil && info.Pending() == "spawn":
		c.Redirect(http.StatusFound, s.withNext(s.pendingURL(user, server), user, next))
	default:
		// Offer to start it, then come back to the page asked for.
		spawn := s.spawnURL(id.Name, user)
		if server != "" {
			spawn = s.hubPrefix + "spawn/" + url.PathEscape(user) + "/" + url.PathEscape(server)
		}
		d := notRunningData{Own: user == id.Name, Owner: user, Server: server, SpawnURL: s.withNext(spawn, user, next)}
		if info != nil && info.State == gateway.StateFailed {
			d.Reason = info.Reason
		}
		if id.Admin && user != id.Name {
			d.Own = true // an admin may start it
		}
		s.render(c, http.StatusServiceUnavailable, "not_running.html", "Server not running", d)
	}
}

// pathServer is the server a /hub/user/<user><path> request is for: the
// named server the path's first segment names, if user has one by that
// name (in any state) and named servers are on; else the default server.
// info is nil when that server does not exist.
func (s *Server) pathServer(c *gin.Context, user, path string) (string, *gateway.ServerInfo, error) {
	ctx := c.Request.Context()
	if s.cfg.NamedServers.Enabled {
		first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
		if first != "" && gateway.ValidServerName(first) == nil {
			info, err := s.hub.Server(ctx, user, first)
			if err == nil {
				return first, info, nil
			}
			if gateway.ErrorCode(err) != gateway.ENOTFOUND {
				return first, nil, err
			}
		}
	}
	info, err := s.hub.Server(ctx, user, "")
	return "", info, err
}
