package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

type tokenRow struct {
	ID, Prefix, Note, Kind     string
	Created, Expires, LastUsed time.Time
}

type expiry struct {
	Seconds  int64
	Label    string
	Selected bool
}

type tokenData struct {
	NewToken string
	Note     string
	Error    string
	Tokens   []tokenRow
	Expiries []expiry
}

// tokenExpiries are the lifetimes the token page offers (0: never, or the
// site's token_lifetime when it sets one).
var tokenExpiries = []expiry{
	{3600, "in 1 hour", false},
	{86400, "in 1 day", false},
	{7 * 86400, "in 1 week", false},
	{30 * 86400, "in 30 days", true},
	{0, "never", false},
}

// tokenPage lists the user's API tokens and offers a new one.
func (s *Server) tokenPage(c *gin.Context) {
	s.renderTokens(c, http.StatusOK, tokenData{})
}

func (s *Server) renderTokens(c *gin.Context, status int, d tokenData) {
	id := who(c)
	tokens, err := s.liveTokens(c, id.Name)
	if err != nil {
		s.failPage(c, err)
		return
	}
	for _, t := range tokens {
		if t.Kind != TokenUser {
			continue // server and OAuth tokens come and go with servers and sessions
		}
		d.Tokens = append(d.Tokens, tokenRow{ID: strconv.FormatInt(t.ID, 10), Prefix: t.Prefix, Note: t.Note, Kind: "API", Created: t.Created, Expires: t.Expires, LastUsed: t.LastUsed})
	}
	d.Expiries = s.expiries()
	s.render(c, status, "token.html", "API tokens", d)
}

// expiries drops "never" when the site bounds token lifetimes.
func (s *Server) expiries() []expiry {
	max := s.cfg.TokenLifetime.D()
	var out []expiry
	for _, e := range tokenExpiries {
		if max > 0 && (e.Seconds == 0 || time.Duration(e.Seconds)*time.Second > max) {
			continue
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		out = []expiry{{int64(max / time.Second), "in " + gateway.FormatDuration(max), true}}
	}
	return out
}

// createTokenForm makes a token from the form and shows it once.
func (s *Server) createTokenForm(c *gin.Context) {
	id := who(c)
	note := strings.TrimSpace(c.PostForm("note"))
	if note == "" {
		note = "Requested via token page"
	}
	secs, err := strconv.ParseInt(c.PostForm("expires_in"), 10, 64)
	if err != nil || secs < 0 {
		s.renderTokens(c, http.StatusBadRequest, tokenData{Note: note, Error: "Choose when the token expires."})
		return
	}
	expires := time.Duration(secs) * time.Second
	if secs == 0 && s.cfg.TokenLifetime.D() > 0 {
		expires = s.cfg.TokenLifetime.D()
	}
	plain, _, err := s.createToken(c, id.Name, note, expires, nil)
	var ge *gateway.Error
	switch {
	case errors.As(err, &ge):
		s.renderTokens(c, http.StatusBadRequest, tokenData{Note: note, Error: ge.Error()})
		return
	case err != nil:
		s.failPage(c, err)
		return
	}
	s.renderTokens(c, http.StatusOK, tokenData{NewToken: plain})
}

// revokeTokenForm deletes one of the user's tokens.
func (s *Server) revokeTokenForm(c *gin.Context) {
	id := who(c)
	tokens, err := s.liveTokens(c, id.Name)
	if err != nil {
		s.failPage(c, err)
		return
	}
	for _, t := range tokens {
		if strconv.FormatInt(t.ID, 10) != c.Param("id") || t.Kind != TokenUser {
			continue
		}
		if err := s.store.DeleteToken(c.Request.Context(), id.Name, t.ID); err != nil {
			s.failPage(c, fmt.Errorf("revoke token %d of %s: %w", t.ID, id.Name, err))
			return
		}
		s.log.InfoContext(c.Request.Context(), "api token revoked", "user", id.Name, "token", t.ID)
		c.Redirect(http.StatusSeeOther, s.hubPrefix+"token")
		return
	}
	s.errorPage(c, http.StatusNotFound, "No such token.")
}
