package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"hpcgate/gateway/config"
)

// The apps of a cluster's catalogue that authenticate with a secret
// (config.AuthToken): the hub derives one per job, the job script writes it
// to a 0600 file the app reads, and the proxy presents it on each request
// after the web layer's owner check. Such a job needs no hub API token and
// never calls the hub.

// appSecret is the job's secret: an HMAC of the job name (unique per
// spawn) under the hub's key, so a restarted hub presents the same secret
// to the jobs it re-adopts without storing it. 43 characters of base64url,
// which batch.App.Secret accepts.
func (h *Hub) appSecret(jobName string) string {
	m := hmac.New(sha256.New, h.appKey)
	m.Write([]byte("hpcgate app secret\x00" + jobName))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// serverApp is the app srv runs: the one its spawn recorded, or the
// jupyterhub app for rows written before the catalogue (and for an app
// since removed from the site file, whose job then keeps its route as
// jupyterhub's).
func serverApp(c *config.Cluster, srv *Server) config.AppRef {
	if a, ok := c.AppByName(srv.Resources.App); ok {
		return a
	}
	a, _ := c.AppByName(config.AppJupyterHub)
	return a
}

// routeApp is how the proxy talks to srv's app; nil for jupyterhub's.
func (h *Hub) routeApp(app config.AppRef, srv *Server) *RouteApp {
	if app.Auth != config.AuthToken {
		return nil
	}
	prefix := UserURL(h.cfg.Hub.BaseURL, srv.User, srv.Name)
	secret := h.appSecret(srv.JobName)
	open := strings.NewReplacer("{base_url}", prefix, "{base_path}", strings.TrimPrefix(prefix, "/")).Replace(app.Open)
	return &RouteApp{
		Secret: secret,
		Header: app.Present.Header, HeaderValue: strings.ReplaceAll(app.Present.Value, "{secret}", secret),
		Cookie: app.Present.Cookie, Query: app.Present.Query,
		Prefix: prefix, Strip: app.Prefix == config.PrefixStrip, Open: open,
	}
}
