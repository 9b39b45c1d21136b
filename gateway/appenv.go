package gateway

import (
	"encoding/json"
	"net/url"
	"strings"
)

// appEnv is the environment an unmodified jupyterhub-singleuser needs to
// talk to this hub (JupyterHub 3.0's Spawner.get_env). The token is the
// server's own API token; it reaches the job inside the script on stdin and
// never appears on a command line.
func appEnv(hubAPIURL, baseURL, user, server, token string) map[string]string {
	prefix := UserURL(baseURL, user, server)
	clientID := OAuthClientID(user, server)
	access, _ := json.Marshal([]string{
		"access:servers!server=" + user + "/" + server,
		"access:servers!user=" + user,
	})
	api := strings.TrimSuffix(hubAPIURL, "/")
	return map[string]string{
		"JUPYTERHUB_API_TOKEN":           token,
		"JPY_API_TOKEN":                  token,
		"JUPYTERHUB_CLIENT_ID":           clientID,
		"JUPYTERHUB_API_URL":             api,
		"JUPYTERHUB_ACTIVITY_URL":        api + "/users/" + url.PathEscape(user) + "/activity",
		"JUPYTERHUB_BASE_URL":            baseURL,
		"JUPYTERHUB_HOST":                "",
		"JUPYTERHUB_SERVICE_PREFIX":      prefix,
		"JUPYTERHUB_SERVICE_URL":         "http://{host}:{port}" + prefix,
		"JUPYTERHUB_OAUTH_CALLBACK_URL":  prefix + "oauth_callback",
		"JUPYTERHUB_OAUTH_ACCESS_SCOPES": string(access),
		"JUPYTERHUB_OAUTH_SCOPES":        string(access),
		"JUPYTERHUB_USER":                user,
		"JUPYTERHUB_SERVER_NAME":         server,
	}
}

// UserURL is the URL (path) of a user's server under the hub's base URL:
// /user/alice/ for the default server, /user/alice/name/ for a named one.
// Every link to a server, the proxy's prefix and the app's own base URL
// come from it.
func UserURL(baseURL, user, server string) string {
	p := strings.TrimSuffix(baseURL, "/") + "/user/" + url.PathEscape(user) + "/"
	if server != "" {
		p += url.PathEscape(server) + "/"
	}
	return p
}

// ProgressURL is the event stream of a user's server, as JupyterHub's REST
// API names it (…/server/progress, or …/servers/<name>/progress).
func ProgressURL(baseURL, user, server string) string {
	p := strings.TrimSuffix(baseURL, "/") + "/hub/api/users/" + url.PathEscape(user)
	if server != "" {
		return p + "/servers/" + url.PathEscape(server) + "/progress"
	}
	return p + "/server/progress"
}

// OAuthClientID is the OAuth client id of a user's server, as JupyterHub
// names it (jupyterhub-user-<name>[-<server>]); it is also the cookie name
// the single-user server uses.
func OAuthClientID(user, server string) string {
	id := "jupyterhub-user-" + url.PathEscape(user)
	if server != "" {
		id += "-" + url.PathEscape(server)
	}
	return id
}
