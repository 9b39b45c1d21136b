// Package services runs the site's managed JupyterHub services: each one
// a child process of the hub, started with the environment JupyterHub 3.0
// gives a service (services/service.py and spawner.py get_env), its
// output logged line by line, restarted after a growing pause when it
// exits, and stopped with the hub. It also settles each service's API
// token: the api_token_file's, or one derived from the hub's cookie
// secret for a managed service.
//
// It knows config's Service and nothing of the web layer or the store;
// cmd wires its tokens and process ids into web.
package services

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/user"

	"hpcgate/gateway/config"
)

// Tokens returns every service's API token by name: read from its
// api_token_file, derived from key (the hub's cookie secret) for a
// managed service without one, absent for an external service without
// one.
//
// Derived, not random: with replicas, each runs its own copy of a managed
// service, and the service's token is also its OAuth client secret, which
// the replica that receives the token exchange checks in memory. The
// cookie secret is the one secret every replica shares already, so every
// copy holds the same token, and any replica recognises it. A token
// leaked from a service's environment tells nothing of the cookie secret
// (HMAC-SHA256); it changes with the cookie secret, or is replaced by an
// api_token_file.
func Tokens(svcs []config.Service, key []byte) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range svcs {
		switch {
		case s.APITokenFile != "":
			t, err := config.ReadSecret(s.APITokenFile)
			if err != nil {
				return nil, fmt.Errorf("service %s: read api_token_file: %w", s.Name, err)
			}
			if len(t) < 8 {
				return nil, fmt.Errorf("service %s: the token in %s is %d characters; use at least 8 (openssl rand -hex 32)", s.Name, s.APITokenFile, len(t))
			}
			out[s.Name] = t
		case s.Managed():
			if len(key) < 32 {
				return nil, fmt.Errorf("service %s: derive api token: the key is %d bytes, want at least 32", s.Name, len(key))
			}
			m := hmac.New(sha256.New, key)
			m.Write([]byte("hpcgate service api token\x00" + s.Name))
			out[s.Name] = hex.EncodeToString(m.Sum(nil))
		}
	}
	return out, nil
}

// CheckUsers refuses a managed service whose user is not the hub's own
// system user: hpcgate does not switch users (JupyterHub would, as root).
func CheckUsers(svcs []config.Service) error {
	me, err := user.Current()
	if err != nil {
		return fmt.Errorf("services: who runs the hub: %w", err)
	}
	for _, s := range svcs {
		if s.User != "" && s.User != me.Username {
			return fmt.Errorf("service %s: user %q: managed services run as the hub's own user %q; hpcgate does not switch users (remove user: or set it to %q)", s.Name, s.User, me.Username, me.Username)
		}
	}
	return nil
}

// Hub is where a managed service finds the hub.
type Hub struct {
	// APIURL is JUPYTERHUB_API_URL: http://127.0.0.1:8000/hub/api.
	APIURL string
	// BaseURL is the hub's base_url ("/", "/jupyter/").
	BaseURL string
}

// envKeep is JupyterHub 3.0's Spawner.env_keep: what a service inherits
// of the hub's own environment.
var envKeep = []string{"PATH", "PYTHONPATH", "CONDA_ROOT", "CONDA_DEFAULT_ENV", "VIRTUAL_ENV", "LANG", "LC_ALL", "JUPYTERHUB_SINGLEUSER_APP"}

// Environment is the environment of managed service s with API token
// token, as JupyterHub 3.0 builds it: env_keep from the hub's, then the
// JUPYTERHUB_* variables, then the service's environment, then its name,
// URL and prefix (which the service's environment cannot change).
func Environment(s *config.Service, token string, hub Hub, getenv func(string) string) map[string]string {
	env := map[string]string{}
	for _, k := range envKeep {
		if v := getenv(k); v != "" {
			env[k] = v
		}
	}
	access, _ := json.Marshal([]string{"access:services", "access:services!service=" + s.Name})
	allowed := s.OAuthClientAllowedScopes
	if allowed == nil {
		allowed = []string{}
	}
	allowedJSON, _ := json.Marshal(allowed)
	prefix := hub.BaseURL + "services/" + s.Name + "/"
	for k, v := range map[string]string{
		"JUPYTERHUB_API_TOKEN":                   token,
		"JPY_API_TOKEN":                          token,
		"JUPYTERHUB_CLIENT_ID":                   s.OAuthClientID,
		"JUPYTERHUB_HOST":                        "",
		"JUPYTERHUB_OAUTH_CALLBACK_URL":          s.OAuthRedirectURI,
		"JUPYTERHUB_OAUTH_SCOPES":                string(access),
		"JUPYTERHUB_OAUTH_ACCESS_SCOPES":         string(access),
		"JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES": string(allowedJSON),
		"JUPYTERHUB_USER":                        s.User,
		"JUPYTERHUB_SERVER_NAME":                 "",
		"JUPYTERHUB_API_URL":                     hub.APIURL,
		"JUPYTERHUB_BASE_URL":                    hub.BaseURL,
	} {
		env[k] = v
	}
	for k, v := range s.Environment {
		env[k] = v
	}
	env["JUPYTERHUB_SERVICE_NAME"] = s.Name
	if s.URL != "" {
		env["JUPYTERHUB_SERVICE_URL"] = s.URL
		env["JUPYTERHUB_SERVICE_PREFIX"] = prefix
	}
	return env
}

// environ flattens env for exec.
func environ(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// hubGetenv is the hub's own environment, for Environment.
var hubGetenv = os.Getenv
