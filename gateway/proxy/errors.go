package proxy

import (
	"encoding/json"
	"html"
	"mime"
	"net/http"
	"strings"
)

// serveError is ReverseProxy's one ErrorHandler. It runs when no response
// came from the server (or an upgrade could not be completed).
func (p *Proxy) serveError(w http.ResponseWriter, r *http.Request, err error) {
	p.serveErrorFor(w, r, fromContext(r.Context()), err)
}

// serveErrorFor answers a request pr's server did not answer.
func (p *Proxy) serveErrorFor(w http.ResponseWriter, r *http.Request, pr *proxied, err error) {
	user, server := pr.route.user, pr.route.server
	log := p.cfg.Logger.With("user", user, "server", server, "method", r.Method, "path", r.URL.Path)

	switch {
	case pr.client.Err() != nil:
		// The browser went away; nobody reads an answer, and neither
		// the server nor the hub failed: no 5xx, no warning.
		log.Debug("proxy: client gone", "err", err)
		p.stats.clientGone.Add(1)
		if rec, ok := w.(*recorder); ok {
			rec.gone = true
		}
		return
	case pr.route.ctx.Err() != nil:
		// The hub removed the route while the request was in flight.
		log.Info("proxy: route removed during request", "err", err)
	default:
		log.Warn("proxy: server not responding", "err", err)
		p.stats.unreachable.Add(1)
		if p.cfg.OnError != nil {
			p.cfg.OnError(user, server, err)
		}
	}
	writeMessage(w, r, http.StatusServiceUnavailable,
		"Your server at "+routeName(user, server)+" is not responding")
}

// writeMessage answers with a short page, or JSON in JupyterHub's error
// shape when the client asks for JSON (API calls from JupyterLab).
func writeMessage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if wantsJSON(r.Header.Get("Accept")) {
		h.Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(struct {
			Status  int    `json:"status"`
			Message string `json:"message"`
		}{status, msg})
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	title := html.EscapeString(http.StatusText(status))
	_, _ = w.Write([]byte("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + title +
		"</title></head>\n<body><h1>" + title + "</h1>\n<p>" + html.EscapeString(msg) +
		"</p>\n<p><a href=\"/hub/home\">Home</a></p></body></html>\n"))
}

// wantsJSON reports whether an Accept header lists application/json (or
// a +json type) and not text/html: browsers navigating list HTML first.
func wantsJSON(accept string) bool {
	json := false
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch {
		case mt == "text/html":
			return false
		case mt == "application/json", strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
			json = true
		}
	}
	return json
}
