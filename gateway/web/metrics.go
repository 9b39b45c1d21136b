package web

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"hpcgate/gateway"
)

// metricsScope is JupyterHub's scope for reading /hub/metrics; a token
// that carries it may scrape without being an admin's.
const metricsScope = "read:metrics"

// metricsHandler serves the registry in Prometheus's text (or, when
// asked, OpenMetrics) format; nil without metrics.
func metricsHandler(m *gateway.Metrics, log *slog.Logger) http.Handler {
	if m == nil || m.Registry == nil {
		return nil
	}
	if log == nil {
		log = slog.Default()
	}
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		// One broken collector must not blank the whole scrape.
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelError),
	})
}

// serveMetrics is /hub/metrics. The metrics name users and clusters, so
// they are not public unless the site says so (hub.metrics_public):
// otherwise the scraper needs an admin's API token or a token with the
// read:metrics scope, and an admin may also look from a browser session.
// Like JupyterHub, anything else gets 403, with or without credentials.
func (s *Server) serveMetrics(c *gin.Context) {
	if s.promHTTP == nil {
		jsonError(c, http.StatusNotFound, "Not Found")
		return
	}
	if !s.cfg.Hub.MetricsPublic && !mayReadMetrics(who(c)) {
		jsonError(c, http.StatusForbidden, "Action is not authorized with current scopes; requires any of [read:metrics]")
		return
	}
	// The handler sets its own content type; the hub's HTML security
	// headers are harmless on it.
	s.promHTTP.ServeHTTP(c.Writer, c.Request)
}

// mayReadMetrics: read:metrics unfiltered, which an admin's session and
// API token hold, and a token granted it. An admin's server or OAuth
// token lives on a compute node and holds only its own scopes.
func mayReadMetrics(id *identity) bool {
	return id != nil && id.Scopes.allowsAll(metricsScope)
}
