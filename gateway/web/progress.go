package web

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// progressEvent is one event of the progress stream: JupyterHub's keys
// (progress, message, html_message, ready, failed, url) and hpcgate's
// (state, reason, estimated_start, queued_seconds, node, log_tail, ...)
// from gateway.Progress, plus the reason in plain words.
type progressEvent struct {
	gateway.Progress
	HTMLMessage string `json:"html_message,omitempty"`
	ReasonText  string `json:"reason_text,omitempty"`
}

// firstEvent is JupyterHub's opening event of every stream that is not
// already ready.
var firstEvent = map[string]any{"progress": 0, "message": "Server requested"}

// event turns a lifecycle event into what the stream sends: the ready
// event with the server's URL, the failed event with "Spawn failed: " and
// the scheduler's own words, anything else as it came.
func (s *Server) event(p gateway.Progress, info *gateway.ServerInfo) progressEvent {
	e := progressEvent{Progress: p}
	switch {
	case p.Ready:
		url := p.URL
		if url == "" {
			url = s.serverURL(info)
		}
		e.Progress = gateway.Progress{
			Time: p.Time, State: gateway.StateReady, Progress: gateway.StateReady.Progress(), Ready: true, URL: url,
			JobID: p.JobID, Node: p.Node, WalltimeLeft: p.WalltimeLeft,
			Message: "Server ready at " + url, Warning: p.Warning,
		}
		e.HTMLMessage = fmt.Sprintf(`Server ready at <a href="%s">%s</a>`, html.EscapeString(url), html.EscapeString(url))
	case p.Failed || p.Stopped:
		why := p.Reason
		if why == "" {
			why = p.Message
		}
		if p.Stopped && !p.Failed {
			why = "the server was stopped"
			if p.Message != "" {
				why += ": " + p.Message
			}
		}
		e.Progress.Progress = 100
		e.Progress.Failed = true
		e.Progress.Message = "Spawn failed: " + why
		e.HTMLMessage = "Spawn failed: " + html.EscapeString(why)
	case p.State == gateway.StateQueued:
		e.ReasonText = s.hub.ExplainReason(info.Cluster, p.Reason)
	}
	e.Label = e.State.Label()
	return e
}

// apiProgress is GET /hub/api/users/<name>/server/progress (and
// …/servers/<server>/progress for a named server), JupyterHub's
// event stream: "data: {json}\n\n" per event, a keepalive every
// KeepAlive, and it ends with the ready or failed event. A server that
// is neither on its way nor just failed has no progress: 400.
func (s *Server) apiProgress(c *gin.Context) {
	user, server := c.Param("user"), c.Param("name")
	ctx := c.Request.Context()
	if !s.namedServerOK(c, server) {
		return
	}
	info, err := s.hub.Server(ctx, user, server)
	if err != nil {
		s.fail(c, err)
		return
	}
	// ?follow=1 keeps the stream of a ready server open until it ends:
	// walltime warnings and the stop arrive as events (JupyterHub's
	// stream, and this one without follow, end at the ready event).
	follow := c.Query("follow") != "" && info.State == gateway.StateReady
	switch {
	case follow:
	case info.State == gateway.StateReady:
		s.startStream(c)
		s.send(c, s.event(gateway.Progress{Ready: true, URL: s.serverURL(info), JobID: info.JobID, Node: info.Node}, info))
		return
	case info.State == gateway.StateFailed:
		s.startStream(c)
		s.send(c, s.event(gateway.Progress{State: info.State, Failed: true, Reason: info.Reason, JobID: info.JobID, Node: info.Node}, info))
		return
	case info.Pending() != "spawn":
		jsonError(c, http.StatusBadRequest, fmt.Sprintf("%s is not starting", logName(user, server)))
		return
	}

	viewer := who(c).Name // the route's scope check let only a known caller in
	if !s.takeStream(c, viewer) {
		return
	}
	defer s.streams.give(viewer)
	events, done := s.hub.Subscribe(user, server)
	defer done()
	s.startStream(c)
	if !follow && !s.send(c, firstEvent) {
		return
	}
	tick := time.NewTicker(s.keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.writeDeadline(c)
			if _, err := c.Writer.WriteString(":keepalive\n\n"); err != nil {
				return
			}
			c.Writer.Flush()
		case p, ok := <-events:
			if !ok {
				return
			}
			e := s.event(p, info)
			if !s.send(c, e) || (e.Final() && !(follow && p.Ready)) {
				return
			}
		}
	}
}

// startStream sends the stream's headers. A stream may last for hours,
// past the server's WriteTimeout, so each write gets write_timeout of its
// own instead: a client that stops reading is still let go.
func (s *Server) startStream(c *gin.Context) {
	s.writeDeadline(c)
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx in front must not buffer it
	c.Status(http.StatusOK)
	c.Writer.WriteHeaderNow()
	c.Writer.Flush()
}

// send writes one event and flushes; false means the client is gone.
func (s *Server) send(c *gin.Context, v any) bool {
	data, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode progress event", "err", err)
		return false
	}
	s.writeDeadline(c)
	if _, err := fmt.Fprintf(c.Writer, "data: %s\n\n", data); err != nil {
		return false
	}
	c.Writer.Flush()
	return true
}

// writeDeadline gives the stream's next write hub.limits.write_timeout,
// on the wall clock (Options.Now may be a test's fixed clock).
func (s *Server) writeDeadline(c *gin.Context) {
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(s.limits.WriteTimeout.D()))
}
