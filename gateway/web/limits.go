package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway/config"
)

// HTTPServer is the http.Server for the hub's handler with the site's
// limits (hub.limits): header, read, write and idle timeouts and the
// largest headers. Event streams extend their write deadline at each
// write; the proxy lifts the deadlines of requests it carries.
func (s *Server) HTTPServer(addr string, errorLog *log.Logger) *http.Server {
	l := s.limits
	return &http.Server{
		Addr:              addr,
		Handler:           s.Handler(),
		ReadHeaderTimeout: l.ReadHeaderTimeout.D(),
		ReadTimeout:       l.ReadTimeout.D(),
		WriteTimeout:      l.WriteTimeout.D(),
		IdleTimeout:       l.IdleTimeout.D(),
		MaxHeaderBytes:    int(l.MaxHeaderBytes),
		ErrorLog:          errorLog,
	}
}

// limitsOf returns the site's limits, with the defaults for a config built
// in code rather than parsed (every parsed config has them).
func limitsOf(cfg *config.Config) config.Limits {
	l := cfg.Hub.Limits
	d := config.Default().Hub.Limits
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = d.ReadTimeout
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = d.WriteTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = d.MaxBodyBytes
	}
	if l.StreamsPerUser <= 0 {
		l.StreamsPerUser = d.StreamsPerUser
	}
	if l.WebSocketsPerUser <= 0 {
		l.WebSocketsPerUser = d.WebSocketsPerUser
	}
	return l
}

// limitBody reads the body of every request to the hub's own routes, at
// most hub.limits.max_body_bytes of it, before any handler runs: a larger
// body gets 413 without being read to the end, and handlers never meet a
// body that is still arriving (the server's ReadTimeout bounds this read).
// Requests for /user/ go to the user's server untouched: their bodies are
// the app's business.
func (s *Server) limitBody(c *gin.Context) {
	r := c.Request
	if r.Body == nil || r.Body == http.NoBody || strings.HasPrefix(r.URL.Path, s.base+"user/") {
		c.Next()
		return
	}
	max := int64(s.limits.MaxBodyBytes)
	if r.ContentLength > max {
		s.bodyTooLarge(c)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, r.Body, max))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		s.bodyTooLarge(c)
		return
	case err != nil:
		// The client went away or was too slow (ReadTimeout); whatever
		// is written now is unlikely to reach it.
		c.Header("Connection", "close")
		jsonError(c, http.StatusBadRequest, "could not read the request body")
		return
	}
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	c.Next()
}

func (s *Server) bodyTooLarge(c *gin.Context) {
	s.metrics.Refused("max_body_bytes")
	// The rest of the body is not read: the connection cannot be reused.
	c.Header("Connection", "close")
	msg := fmt.Sprintf("The request is larger than the hub accepts (%s; hub.limits.max_body_bytes).", s.limits.MaxBodyBytes)
	if wantsHTML(c.Request) {
		s.errorPage(c, http.StatusRequestEntityTooLarge, msg)
		return
	}
	jsonError(c, http.StatusRequestEntityTooLarge, msg)
}

// userSlots counts one kind of long-lived connection per user, up to max.
type userSlots struct {
	max  int
	mu   sync.Mutex
	held map[string]int
}

func newUserSlots(max int) *userSlots {
	return &userSlots{max: max, held: map[string]int{}}
}

// take holds a slot for user, or reports false when all max are held.
func (u *userSlots) take(user string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.held[user] >= u.max {
		return false
	}
	u.held[user]++
	return true
}

// give back a slot taken for user.
func (u *userSlots) give(user string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.held[user]--; u.held[user] <= 0 {
		delete(u.held, user)
	}
}

// count is how many slots user holds.
func (u *userSlots) count(user string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.held[user]
}

// limitWebSockets holds one of the requesting user's WebSocket slots for
// as long as a proxied WebSocket lasts (ServeProxy returns when it
// closes), and answers 429 when the user has hub.limits.websockets_per_user
// open already. Anonymous requests pass: the gate after this refuses them.
func (s *Server) limitWebSockets(c *gin.Context) {
	id := who(c)
	if id == nil || !isUpgrade(c.Request) {
		c.Next()
		return
	}
	if !s.websockets.take(id.Name) {
		s.metrics.Refused("websockets_per_user")
		s.log.WarnContext(c.Request.Context(), "websocket refused: per-user limit reached", "user", id.Name, "limit", s.limits.WebSocketsPerUser)
		jsonError(c, http.StatusTooManyRequests, fmt.Sprintf(
			"%s already has %d WebSockets open through the hub, the most allowed (hub.limits.websockets_per_user); close some notebooks, consoles or terminals and try again",
			id.Name, s.limits.WebSocketsPerUser))
		return
	}
	defer s.websockets.give(id.Name)
	c.Next()
}

// isUpgrade reports whether r asks to switch protocols (a WebSocket), as
// httputil.ReverseProxy decides it.
func isUpgrade(r *http.Request) bool {
	if r.Header.Get("Upgrade") == "" {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// takeStream holds one of user's event stream slots, or answers 429 and
// reports false when user has hub.limits.streams_per_user open already.
// The caller gives the slot back when the stream ends.
func (s *Server) takeStream(c *gin.Context, user string) bool {
	if s.streams.take(user) {
		return true
	}
	s.metrics.Refused("streams_per_user")
	s.log.WarnContext(c.Request.Context(), "event stream refused: per-user limit reached", "user", user, "limit", s.limits.StreamsPerUser)
	jsonError(c, http.StatusTooManyRequests, fmt.Sprintf(
		"%s already has %d progress streams open, the most allowed (hub.limits.streams_per_user); close other hub tabs and try again",
		user, s.limits.StreamsPerUser))
	return false
}

// maxLoggedPath bounds a request path in the log; the rest is counted.
const maxLoggedPath = 512

// loggedPath is p cut to maxLoggedPath bytes.
func loggedPath(p string) string {
	// A token looked up by path (authorizations/token/<token>) is a
	// credential: it never reaches the log.
	if i := strings.Index(p, "/api/authorizations/token/"); i >= 0 {
		p = p[:i] + "/api/authorizations/token/[secret]"
	}
	if len(p) <= maxLoggedPath {
		return p
	}
	return fmt.Sprintf("%s… (%d bytes)", p[:maxLoggedPath], len(p))
}
