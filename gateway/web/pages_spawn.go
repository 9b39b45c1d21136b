package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
	"hpcgate/gateway/config"
)

// spawnOwner returns the user whose server the spawn page is for, with
// their groups, or answers and returns "".
func (s *Server) spawnOwner(c *gin.Context) (string, []string) {
	user := s.pathUser(c)
	if user == "" {
		return "", nil
	}
	id := who(c)
	if user == id.Name {
		return user, id.Groups
	}
	u, err := s.store.GetUser(c.Request.Context(), user)
	if err != nil {
		if isNotFound(err) {
			s.errorPage(c, http.StatusNotFound, "There is no user "+user+".")
			return "", nil
		}
		s.failPage(c, err)
		return "", nil
	}
	return user, u.AllGroups()
}

// redirectActive sends the spawn page of a server that is already on its
// way or running to where it can be followed, and reports whether it did.
func (s *Server) redirectActive(c *gin.Context, owner string) bool {
	info, err := s.hub.Server(c.Request.Context(), owner, c.Param("name"))
	if err != nil || !info.Active() {
		return false
	}
	next := c.Query("next")
	if next == "" {
		next = c.PostForm("next")
	}
	if info.State == gateway.StateReady {
		target := s.serverNextOf(owner, info.Name, next)
		if target == "" {
			target = s.serverURL(info)
		}
		c.Redirect(http.StatusSeeOther, target)
	} else {
		c.Redirect(http.StatusSeeOther, s.withNext(s.pendingURL(owner, info.Name), owner, next))
	}
	return true
}

// pendingURL is the spawn-pending page of owner's server.
func (s *Server) pendingURL(owner, server string) string {
	u := s.hubPrefix + "spawn-pending/" + url.PathEscape(owner)
	if server != "" {
		u += "/" + url.PathEscape(server)
	}
	return u
}

// namedServerPage answers a page for a named server that cannot be one
// here (named servers off, or a bad name); it reports whether the request
// goes on.
func (s *Server) namedServerPage(c *gin.Context) bool {
	server := c.Param("name")
	switch {
	case server == "":
		return true
	case !s.cfg.NamedServers.Enabled:
		s.errorPage(c, http.StatusNotFound, "Named servers are not enabled.")
		return false
	case gateway.ValidServerName(server) != nil:
		s.errorPage(c, http.StatusBadRequest, gateway.ErrorMessage(gateway.ValidServerName(server)))
		return false
	}
	return true
}

// spawnPage shows the form.
func (s *Server) spawnPage(c *gin.Context) {
	if !s.namedServerPage(c) {
		return
	}
	owner, groups := s.spawnOwner(c)
	if owner == "" {
		return
	}
	if name := c.Query("server_name"); name != "" && c.Param("name") == "" && s.cfg.NamedServers.Enabled {
		// The home page's "new named server" field: to its own form.
		if err := gateway.ValidServerName(name); err != nil {
			s.errorPage(c, http.StatusBadRequest, gateway.ErrorMessage(err))
			return
		}
		c.Redirect(http.StatusFound, s.hubPrefix+"spawn/"+url.PathEscape(owner)+"/"+url.PathEscape(name))
		return
	}
	if s.redirectActive(c, owner) {
		return
	}
	cluster, profile := splitProfile(c.Query("profile"), c.Query("cluster"))
	s.renderSpawn(c, http.StatusOK, owner, groups, cluster, profile, nil, nil, "")
}

func (s *Server) renderSpawn(c *gin.Context, status int, owner string, groups []string, cluster, profile string, values, fields map[string]string, msg string) {
	d := spawnFormData{
		Server:   c.Param("name"),
		Owner:    owner,
		Own:      owner == who(c).Name,
		Action:   s.hubPrefix + "spawn",
		Clusters: s.buildSpawnForm(groups, cluster, profile, values, fields),
		Error:    msg,
		Next:     s.serverNextOf(owner, c.Param("name"), c.Request.FormValue("next")),
	}
	if !d.Own || d.Server != "" {
		d.Action += "/" + url.PathEscape(owner)
	}
	if d.Server != "" {
		d.Action += "/" + url.PathEscape(d.Server)
	}
	d.MultiCluster = len(d.Clusters) > 1
	if len(d.Clusters) == 0 && d.Error == "" {
		d.Error = "No profile is open to your account; ask your centre's support."
	}
	s.render(c, status, "spawn.html", "Start a server", d, "spawn.js")
}

// splitProfile reads a profile choice, "cluster/profile" from the form or
// a bare profile name with a separate cluster.
func splitProfile(choice, cluster string) (string, string) {
	if c, p, ok := strings.Cut(choice, "/"); ok {
		return c, p
	}
	return cluster, choice
}

// spawn takes the form: the options of the chosen profile are checked
// against it here, so a refused form comes straight back with a message
// next to each wrong field, and then by the hub again.
func (s *Server) spawn(c *gin.Context) {
	if !s.namedServerPage(c) {
		return
	}
	server := c.Param("name")
	owner, groups := s.spawnOwner(c)
	if owner == "" || s.redirectActive(c, owner) {
		return
	}
	ctx := c.Request.Context()
	cluster, profile := splitProfile(c.PostForm("profile"), c.PostForm("cluster"))
	opts := map[string]string{}
	for _, opt := range config.OptionNames {
		v, ok := c.GetPostForm(cluster + "/" + profile + "/" + opt)
		if !ok {
			v, ok = c.GetPostForm(opt)
		}
		if ok {
			opts[opt] = v
		}
	}
	plan, err := s.planSpawn(cluster, profile, opts, groups)
	var ge *gateway.Error
	switch {
	case errors.As(err, &ge) && ge.Code == gateway.EINVALID && plan == nil:
		s.renderSpawn(c, http.StatusBadRequest, owner, groups, cluster, profile, nil, nil, ge.Message)
		return
	case errors.As(err, &ge) && ge.Code == gateway.EINVALID:
		s.log.InfoContext(ctx, "spawn form refused", "user", who(c).Name, "owner", owner, "site", plan.Cluster.Name, "profile", plan.Profile.Name, "err", ge.Message)
		s.renderSpawn(c, http.StatusBadRequest, owner, groups, plan.Cluster.Name, plan.Profile.Name, opts, ge.Fields, "Some options are not allowed; see the messages below.")
		return
	case err != nil:
		s.failPage(c, err)
		return
	}
	info, err := s.hub.Spawn(ctx, gateway.SpawnRequest{
		User: owner, Server: server, Cluster: plan.Cluster.Name, Profile: plan.Profile.Name, Options: opts, Groups: groups, By: who(c).Name,
	})
	if err != nil {
		var ge *gateway.Error
		switch {
		case errors.As(err, &ge) && ge.Code == gateway.EINVALID:
			msg := ge.Message
			if len(ge.Fields) > 0 {
				msg = "Some options are not allowed; see the messages below."
			}
			s.renderSpawn(c, http.StatusBadRequest, owner, groups, plan.Cluster.Name, plan.Profile.Name, opts, ge.Fields, msg)
		case errors.As(err, &ge) && ge.Code == gateway.ECONFLICT:
			c.Redirect(http.StatusSeeOther, s.withNext(s.pendingURL(owner, server), owner, c.PostForm("next")))
		default:
			s.failPage(c, fmt.Errorf("spawn for %s: %w", owner, err))
		}
		return
	}
	s.log.InfoContext(ctx, "spawn requested", "user", who(c).Name, "owner", owner, "server", server, "site", info.Cluster, "profile", info.Profile)
	c.Redirect(http.StatusSeeOther, s.withNext(s.pendingURL(owner, server), owner, c.PostForm("next")))
}
