package web

import (
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// This file is the part of JupyterHub 3.0's REST API about the hub
// itself: GET /hub/api/info, the routing table (GET /hub/api/proxy) and
// the deprecated token lookup services still use
// (GET /hub/api/authorizations/token/<token>).

// apiInfo is GET /hub/api/info (read:hub): JupyterHub's keys, with Go's
// runtime where JupyterHub names Python's, and hpcgate's classes.
func (s *Server) apiInfo(c *gin.Context) {
	exe, _ := os.Executable()
	clusters := []string{}
	for _, cl := range s.cfg.Clusters {
		clusters = append(clusters, cl.Name)
	}
	c.JSON(http.StatusOK, gin.H{
		"version":        JupyterHubVersion,
		"python":         runtime.Version(), // the language runtime the hub runs on
		"sys_executable": exe,
		"spawner":        gin.H{"class": "hpcgate.BatchSpawner", "version": s.version},
		"authenticator":  gin.H{"class": "hpcgate.LDAPAuthenticator", "version": s.version},
		"hpcgate":        gin.H{"version": s.version, "clusters": clusters},
	})
}

// route is one entry of JupyterHub's routing table (Proxy.get_all_routes).
type route struct {
	Routespec string         `json:"routespec"`
	Target    string         `json:"target"`
	Data      map[string]any `json:"data"`
}

// apiProxy is GET /hub/api/proxy (proxy): the routing table, keyed by
// route spec and paginated like JupyterHub's. hpcgate is its own proxy,
// so the table is the hub's and each ready server's route; a server's
// target is its address on the compute node, reached through the
// cluster's login node (data.hpcgate names the cluster and node);
// last_activity is in data as configurable-http-proxy keeps it.
func (s *Server) apiProxy(c *gin.Context) {
	p, ok := pageOf(c)
	if !ok {
		return
	}
	infos, err := s.hub.Servers(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	hubTarget := s.origin
	if l := s.cfg.Hub.Listen; l != "" {
		hubTarget = "http://" + l
	}
	all := map[string]route{s.base: {Routespec: s.base, Target: hubTarget, Data: map[string]any{"hub": true}}}
	// Services with a url are routed at /services/<name>/, as
	// JupyterHub's proxy has them (app.py add_service_routes).
	for _, sc := range s.cfg.Services {
		if sc.URL != "" {
			spec := s.cfg.ServicePrefix(sc.Name)
			all[spec] = route{Routespec: spec, Target: sc.URL, Data: map[string]any{"service": sc.Name}}
		}
	}
	for _, info := range infos {
		if info.State != gateway.StateReady || info.Port == 0 {
			continue
		}
		spec := s.serverURL(info)
		all[spec] = route{Routespec: spec, Target: "http://" + net.JoinHostPort(info.Host, strconv.Itoa(info.Port)),
			Data: map[string]any{"user": info.User, "server_name": info.Name, "last_activity": timePtr(info.LastActivity),
				"hpcgate": map[string]string{"cluster": info.Cluster, "node": info.Node}}}
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	from, to := p.bounds(len(keys))
	routes := map[string]route{}
	for _, k := range keys[from:to] {
		routes[k] = all[k]
	}
	p.write(c, routes, len(keys))
}

// apiTokenOwner is GET /hub/api/authorizations/token/<token>, deprecated
// in JupyterHub 2.0 but still served by 3.0 for HubAuth-based services:
// the model of the user owning token, as far as the caller's scopes and
// the identify scopes of that user allow. Only a token may ask (never a
// cookie, like JupyterHub's @token_authenticated); 404 for an unknown,
// expired or revoked token.
func (s *Server) apiTokenOwner(c *gin.Context) {
	id := who(c)
	if id == nil || (id.Token == nil && id.Service == "") {
		jsonError(c, http.StatusForbidden, "This API needs a token")
		return
	}
	ctx := c.Request.Context()
	t, err := s.store.LookupToken(ctx, c.Param("token"))
	if isNotFound(err) {
		jsonError(c, http.StatusNotFound, "Not Found")
		return
	} else if err != nil {
		s.fail(c, err)
		return
	}
	u, infos, err := s.userServers(ctx, t.User)
	if err != nil {
		s.fail(c, err)
		return
	}
	caller := *id
	caller.Name = t.User
	m := s.userModel(withIdentifyScopes(&caller), u, infos, false)
	c.JSON(http.StatusOK, m)
}
