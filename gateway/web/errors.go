package web

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// statusOf is the one table from the hub's error codes to HTTP statuses.
// A conflict is 400, not 409, because that is what JupyterHub answers
// ("alice is already running") and its clients expect.
var statusOf = map[string]int{
	gateway.EINVALID:     http.StatusBadRequest,
	gateway.ENOTFOUND:    http.StatusNotFound,
	gateway.ECONFLICT:    http.StatusBadRequest,
	gateway.EFORBIDDEN:   http.StatusForbidden,
	gateway.EUNAVAILABLE: http.StatusServiceUnavailable,
	gateway.EINTERNAL:    http.StatusInternalServerError,
}

// errorStatus returns the HTTP status for err.
func errorStatus(err error) int {
	if s, ok := statusOf[gateway.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// apiError is JupyterHub's error body; Fields is hpcgate's addition naming
// each wrong spawn option with its allowed values.
type apiError struct {
	Status  int               `json:"status"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// jsonError writes {"status": N, "message": ...} and aborts the chain.
func jsonError(c *gin.Context, status int, message string) {
	c.AbortWithStatusJSON(status, apiError{Status: status, Message: message})
}

// fail answers an API request with err: the user's message for hub errors,
// "internal error" (and a log line with the whole chain) for the rest.
func (s *Server) fail(c *gin.Context, err error) {
	status := errorStatus(err)
	body := apiError{Status: status, Message: gateway.ErrorMessage(err)}
	var ge *gateway.Error
	if errors.As(err, &ge) {
		body.Fields = ge.Fields
	}
	if status >= 500 {
		s.log.ErrorContext(c.Request.Context(), "request failed", "path", c.Request.URL.Path, "user", c.GetString(ctxUserName), "err", err)
	}
	c.AbortWithStatusJSON(status, body)
}

// failPage answers a page request with err rendered in the error page.
func (s *Server) failPage(c *gin.Context, err error) {
	status := errorStatus(err)
	if status >= 500 {
		s.log.ErrorContext(c.Request.Context(), "page failed", "path", c.Request.URL.Path, "user", c.GetString(ctxUserName), "err", err)
	}
	s.errorPage(c, status, gateway.ErrorMessage(err))
}

// errorPage renders the error page with status and a message for people.
func (s *Server) errorPage(c *gin.Context, status int, message string) {
	s.render(c, status, "error.html", "Error", errorData{Status: status, StatusText: http.StatusText(status), Message: message})
	c.Abort()
}

type errorData struct {
	Status     int
	StatusText string
	Message    string
}

// wantsHTML reports whether the client is a browser asking for a page, as
// opposed to an API client: JupyterHub's rule for choosing between a login
// redirect and a 403.
func wantsHTML(r *http.Request) bool {
	for _, a := range r.Header.Values("Accept") {
		if strings.Contains(strings.ToLower(a), "text/html") {
			return true
		}
	}
	return false
}

// logRecovered is gin's recovery hook: it logs the panic and answers 500
// without leaking the panic's text to the client.
func (s *Server) logRecovered(c *gin.Context, rec any) {
	s.log.ErrorContext(c.Request.Context(), "panic serving request", "path", c.Request.URL.Path, "user", c.GetString(ctxUserName), slog.Any("panic", rec))
	if wantsHTML(c.Request) {
		s.errorPage(c, http.StatusInternalServerError, "internal error")
		return
	}
	jsonError(c, http.StatusInternalServerError, "internal error")
}
