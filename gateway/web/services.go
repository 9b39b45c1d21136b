package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway/config"
)

// The site's JupyterHub services (config.Service), as JupyterHub 3.0
// serves them: /services/<name>/… is proxied to the service for anyone
// (the service authenticates users itself, through the hub's OAuth); the
// service's API token is a credential of the service, not of a user, with
// the scopes the site gave it; GET /hub/api/services lists them.

// ServiceRuntime is what cmd gives the web layer about one service beyond
// its config.
type ServiceRuntime struct {
	// Token is the service's API token in plain text ("" for none):
	// read from api_token_file, or derived from the cookie secret for a
	// managed service.
	Token string
	// Proxy forwards a request to the service's url (nil without one);
	// it removes the hub's cookies (proxy.ServiceHandler).
	Proxy http.Handler
	// PID is the managed service's current process id, 0 when it is not
	// running; nil for an external service.
	PID func() int
}

// service is one service as the web layer keeps it.
type service struct {
	cfg       *config.Service
	rt        ServiceRuntime
	tokenHash [sha256.Size]byte
	scopes    scopeSet // what its own token may do
}

// initServices builds the service table from the config and runtimes.
func (s *Server) initServices(rts map[string]ServiceRuntime) {
	s.services = map[string]*service{}
	s.serviceClients = map[string]*service{}
	for i := range s.cfg.Services {
		c := &s.cfg.Services[i]
		sv := &service{cfg: c, rt: rts[c.Name], scopes: expandServiceScopes(c.Scopes, c.Name)}
		if sv.rt.Token != "" {
			sv.tokenHash = sha256.Sum256([]byte(sv.rt.Token))
		}
		s.services[c.Name] = sv
		s.serviceClients[c.OAuthClientID] = sv
	}
}

// expandServiceScopes expands scopes given to a service (scopes.py
// expand_scopes with a Service owner): a bare !service filter means this
// one, and the user metascopes (self, !user, !server) mean nothing.
func expandServiceScopes(raw []string, name string) scopeSet {
	var out []string
	for _, sc := range raw {
		base, filter, _ := strings.Cut(sc, "!")
		switch {
		case base == "self" || filter == "user" || filter == "server":
			continue
		case filter == "service":
			sc = base + "!service=" + name
		}
		out = append(out, sc)
	}
	// No identify scope here: JupyterHub 3.0 intersects a token's
	// identify_scopes with its owner's roles, so a service without
	// scopes cannot read even its own model at /hub/api/services/<name>
	// (403); only /hub/api/user adds them (apiSelfService).
	return expandScopes(out, "")
}

// serviceForToken returns the service whose API token plain is, or nil.
func (s *Server) serviceForToken(plain string) *service {
	h := sha256.Sum256([]byte(plain))
	for _, sv := range s.services {
		if sv.rt.Token != "" && subtle.ConstantTimeCompare(h[:], sv.tokenHash[:]) == 1 {
			return sv
		}
	}
	return nil
}

// serviceIdentity is the identity of a request with a service's token.
// Its Name is empty: it is no user, and no user's rights follow from it.
func serviceIdentity(sv *service) *identity {
	return &identity{Service: sv.cfg.Name, Scopes: sv.scopes}
}

// serviceAccessScopes are what the user's role holds on the site's
// services: access to each one the user may log in to, as a JupyterHub
// role granting access:services!service=<name> would.
func (s *Server) serviceAccessScopes(groups []string) []string {
	var out []string
	for _, c := range s.cfg.Services {
		if len(c.AllowedGroups) == 0 || slices.ContainsFunc(groups, func(g string) bool {
			return slices.ContainsFunc(c.AllowedGroups, func(a string) bool { return strings.EqualFold(a, g) })
		}) {
			out = append(out, "access:services!service="+c.Name)
		}
	}
	return out
}

// serviceModel is JupyterHub 3.0's service model (APIHandler.service_model),
// holding the fields the identity's scopes may read of it.
func (s *Server) serviceModel(id *identity, sv *service) gin.H {
	c := sv.cfg
	prefix := ""
	if c.URL != "" {
		prefix = s.cfg.ServicePrefix(c.Name)
	}
	var command any = ""
	if c.Managed() {
		command = c.Command
	}
	pid := 0
	if sv.rt.PID != nil {
		pid = sv.rt.PID()
	}
	info := map[string]string{}
	for k, v := range c.Info {
		info[k] = v
	}
	full := gin.H{
		"kind": "service", "name": c.Name, "roles": []string{}, "admin": false,
		"url": c.URL, "prefix": prefix, "command": command, "pid": pid,
		"info": info, "display": c.Display,
	}
	keys := map[string][]string{
		"read:services":       {"kind", "name", "admin", "url", "prefix", "command", "pid", "info", "display"},
		"read:services:name":  {"kind", "name", "admin"},
		"read:roles:services": {"kind", "name", "roles", "admin"},
	}
	m := gin.H{}
	for scope, fields := range keys {
		if id.Scopes.allowsService(scope, c.Name) {
			for _, f := range fields {
				m[f] = full[f]
			}
		}
	}
	return m
}

// apiServices is GET /hub/api/services: the services list:services grants,
// by name (a dict, as JupyterHub's; not paginated).
func (s *Server) apiServices(c *gin.Context) {
	id := who(c)
	if _, ok := id.Scopes["list:services"]; !ok {
		refuse(c, id, "list:services")
		return
	}
	out := gin.H{}
	for name, sv := range s.services {
		if id.Scopes.allowsService("list:services", name) {
			out[name] = s.serviceModel(id, sv)
		}
	}
	c.JSON(http.StatusOK, out)
}

// apiService is GET /hub/api/services/<name>. As JupyterHub (scopes.py
// _check_scope_access), holding the scope only on other services is 404,
// holding none 403; an unknown service is 404 (JupyterHub 3.0 fails with
// a 500 there).
func (s *Server) apiService(c *gin.Context) {
	id, name := who(c), c.Param("service")
	want := []string{"read:services", "read:services:name", "read:roles:services"}
	held, allowed := false, false
	for _, sc := range want {
		if _, ok := id.Scopes[sc]; ok {
			held = true
			allowed = allowed || id.Scopes.allowsService(sc, name)
		}
	}
	sv := s.services[name]
	switch {
	case !held:
		jsonError(c, http.StatusForbidden, "Action is not authorized with current scopes; requires any of ["+strings.Join(want, ", ")+"]")
	case !allowed || sv == nil:
		jsonError(c, http.StatusNotFound, "No access to resources or resources not found")
	default:
		c.JSON(http.StatusOK, s.serviceModel(id, sv))
	}
}

// apiSelfService is GET /hub/api/user with a service's token: the service
// model, as JupyterHub 3.0's SelfAPIHandler answers a service.
func (s *Server) apiSelfService(c *gin.Context, id *identity) {
	sv := s.services[id.Service]
	// The scopes listed are the token's own, without the identify scope
	// added here to read the service's own model (SelfAPIHandler).
	scopes := id.Scopes.strings()
	if scopes == nil {
		scopes = []string{}
	}
	self := scopeSet{}
	for k, f := range id.Scopes {
		self[k] = f.clone()
	}
	self.add("read:services:name", "service="+sv.cfg.Name) // identify_scopes
	m := s.serviceModel(&identity{Service: id.Service, Scopes: self}, sv)
	m["scopes"] = scopes
	m["session_id"] = nil
	c.JSON(http.StatusOK, m)
}

// serviceProxy is /services/<name>/…: passed to the service whoever asks,
// as JupyterHub's proxy does, without the hub's cookies; the service
// decides who it serves. A service without a url is not found.
func (s *Server) serviceProxy(c *gin.Context) {
	name := c.Param("service")
	sv := s.services[name]
	if sv == nil || sv.rt.Proxy == nil {
		s.notFound(c)
		return
	}
	if c.Param("path") == "" {
		target := s.cfg.ServicePrefix(name)
		if q := c.Request.URL.RawQuery; q != "" {
			target += "?" + q
		}
		c.Redirect(http.StatusFound, target)
		return
	}
	c.Abort()
	sv.rt.Proxy.ServeHTTP(c.Writer, c.Request)
}

// serviceLink is a service as the home page lists it.
type serviceLink struct{ Name, URL string }

// homeServices are the services id may open, as JupyterHub 3.0 lists
// them in its nav bar (BaseHandler.get_accessible_services): each with a
// url and display: true, on which id holds access:services, in the
// site file's order.
func (s *Server) homeServices(id *identity) []serviceLink {
	var out []serviceLink
	for _, c := range s.cfg.Services {
		if c.URL == "" || !c.Display || !id.Scopes.allowsService("access:services", c.Name) {
			continue
		}
		out = append(out, serviceLink{Name: c.Name, URL: s.cfg.ServicePrefix(c.Name)})
	}
	return out
}
