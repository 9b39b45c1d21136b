package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Service is one of the site's JupyterHub services (JupyterHub 3.0's
// c.JupyterHub.services): a web application or a background task beside
// the hub that uses the hub's REST API with its own token and logs users
// in through the hub's OAuth. With a url, /services/<name>/ is proxied
// to it; with a command, the hub runs it (a "managed" service) and
// restarts it when it exits. Managed services run as the hub's own
// system user.
type Service struct {
	// Name identifies the service in URLs (/services/<name>/) and in
	// scopes (access:services!service=<name>): letters, digits and
	// ._-, unique. Required.
	Name string `yaml:"name"`
	// URL is where the service listens, http://host:port with no path:
	// requests to /services/<name>/… go there with their full path.
	// Empty: the service serves no HTTP (a culler, say).
	URL string `yaml:"url"`
	// Command, when given, makes the service managed: the hub starts it
	// (argv, no shell) with JupyterHub's service environment, restarts
	// it with a growing pause when it exits, and stops it on shutdown.
	Command []string `yaml:"command"`
	// Cwd is the managed service's working directory. Default: the
	// hub's.
	Cwd string `yaml:"cwd"`
	// Environment is added to a managed service's environment.
	Environment map[string]string `yaml:"environment"`
	// User, if given, must be the hub's own system user: hpcgate runs
	// managed services as itself and does not switch users (JupyterHub
	// would need root for it).
	User string `yaml:"user"`
	// APITokenFile holds the service's API token (first line), never
	// written in this file. Without it a managed service's token is
	// derived from the cookie secret (the same on every replica, so any
	// replica accepts any copy's OAuth token exchange) and an external
	// one has none.
	APITokenFile string `yaml:"api_token_file"`
	// Scopes are what the service's API token may do on the hub's API,
	// JupyterHub 3.0's scopes ("list:users", "read:users!group=x",
	// "access:services!service" …), as a role given to the service.
	// Default: none beyond identifying itself.
	Scopes []string `yaml:"scopes"`
	// OAuthClientID is the service's OAuth client; it must start with
	// "service-". Default: service-<name>.
	OAuthClientID string `yaml:"oauth_client_id"`
	// OAuthRedirectURI is where the hub sends the browser back with a
	// code. Default: <base_url>services/<name>/oauth_callback.
	OAuthRedirectURI string `yaml:"oauth_redirect_uri"`
	// OAuthNoConfirm skips the page where users confirm they let the
	// service identify them. Default: false (the page is shown).
	OAuthNoConfirm bool `yaml:"oauth_no_confirm"`
	// OAuthClientAllowedScopes are the scopes, beyond identifying the
	// user and accessing the service, that tokens issued to the service
	// for a user may carry (each only if the user holds it). Default: none.
	OAuthClientAllowedScopes []string `yaml:"oauth_client_allowed_scopes"`
	// AllowedGroups (DNs) may log in to the service through the hub;
	// empty lets every user of the hub. Admins always may. (JupyterHub
	// grants access:services!service=<name> by role; this is that role.)
	AllowedGroups []string `yaml:"allowed_groups"`
	// Display lists the service on users' home pages. Default: true.
	Display bool `yaml:"display"`
	// Info is free text shown with the service in its REST model.
	Info map[string]string `yaml:"info"`
}

func (s *Service) setDefaults() { *s = Service{Display: true} }

// Managed reports whether the hub runs the service.
func (s *Service) Managed() bool { return len(s.Command) > 0 }

// Kind is JupyterHub's word for it: "managed" or "external".
func (s *Service) Kind() string {
	if s.Managed() {
		return "managed"
	}
	return "external"
}

var (
	reServiceName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	// A scope: a base word, optionally one filter (!user, !user=x,
	// !server=x/y, !group=g, !service=s), as JupyterHub writes them.
	reScope = regexp.MustCompile(`^[a-z][a-z:_-]{0,63}(![a-z]+(=[^\s!]{1,128})?)?$`)
)

// Validate reports every problem in s, with paths relative to it.
func (s *Service) Validate() []Problem {
	var ps problems
	if !reServiceName.MatchString(s.Name) {
		ps.add("name", "%q must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit", s.Name)
	}
	if s.URL != "" {
		u, err := url.Parse(s.URL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "":
			ps.add("url", "%q must be http://host:port or https://host:port where the service listens", s.URL)
		case strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			ps.add("url", "%q must be only scheme, host and port: the service gets the full /services/%s/… path", s.URL, s.Name)
		}
	}
	for i, a := range s.Command {
		if a == "" {
			ps.add(fmt.Sprintf("command[%d]", i), "is empty")
		}
	}
	if !s.Managed() {
		for key, set := range map[string]bool{"cwd": s.Cwd != "", "environment": len(s.Environment) > 0, "user": s.User != ""} {
			if set {
				ps.add(key, "is only used for a managed service (one with a command)")
			}
		}
	}
	if s.Cwd != "" {
		absolute(&ps, "cwd", s.Cwd)
	}
	for k := range s.Environment {
		if !reEnvName.MatchString(k) {
			ps.add("environment."+k, "%q is not an environment variable name", k)
		}
	}
	for i, sc := range s.Scopes {
		if !reScope.MatchString(sc) {
			ps.add(fmt.Sprintf("scopes[%d]", i), "%q is not a scope like read:users or read:users!group=g", sc)
		}
	}
	for i, sc := range s.OAuthClientAllowedScopes {
		if !reScope.MatchString(sc) {
			ps.add(fmt.Sprintf("oauth_client_allowed_scopes[%d]", i), "%q is not a scope like read:users!user", sc)
		}
	}
	if s.OAuthClientID != "" && (!strings.HasPrefix(s.OAuthClientID, "service-") || !reServiceName.MatchString(s.OAuthClientID)) {
		ps.add("oauth_client_id", "%q must start with \"service-\" (as JupyterHub requires) and hold only letters, digits and ._-", s.OAuthClientID)
	}
	if s.OAuthRedirectURI != "" {
		u, err := url.Parse(s.OAuthRedirectURI)
		if err != nil || u.Fragment != "" || (u.Scheme == "" && !strings.HasPrefix(u.Path, "/")) ||
			(u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https") {
			ps.add("oauth_redirect_uri", "%q must be an absolute path or an http(s) URL", s.OAuthRedirectURI)
		}
	}
	for i, g := range s.AllowedGroups {
		if g == "" {
			ps.add(fmt.Sprintf("allowed_groups[%d]", i), "is empty")
		}
	}
	return ps
}

// validateServices checks each service and that names and client ids
// are unique.
func (c *Config) validateServices() []Problem {
	var ps problems
	for i := range c.Services {
		p := fmt.Sprintf("services[%d]", i)
		ps.addAll(p, c.Services[i].Validate())
		if j := slices.IndexFunc(c.Services, func(s Service) bool { return s.Name == c.Services[i].Name }); j < i {
			ps.add(p+".name", "%q is also the name of services[%d]", c.Services[i].Name, j)
		}
	}
	return ps
}

// provisionService fills in what defaults to other settings.
func (c *Config) provisionService(s *Service) {
	if s.OAuthClientID == "" {
		s.OAuthClientID = "service-" + s.Name
	}
	if s.OAuthRedirectURI == "" {
		s.OAuthRedirectURI = c.Hub.BaseURL + "services/" + s.Name + "/oauth_callback"
	}
}

// ServicePrefix is the service's path under the hub: <base_url>services/<name>/.
func (c *Config) ServicePrefix(name string) string {
	return c.Hub.BaseURL + "services/" + name + "/"
}

// Service returns the service called name.
func (c *Config) Service(name string) (*Service, bool) {
	for i := range c.Services {
		if c.Services[i].Name == name {
			return &c.Services[i], true
		}
	}
	return nil, false
}
