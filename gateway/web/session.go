package web

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// sessionCookie holds the login session's id, sealed (AES-256-GCM) so it
// can be neither read nor forged nor moved to another cookie name; the
// session row in the store is what makes it valid, so logging out (or an
// admin) revokes it at once.
const sessionCookie = "hpcgate-session"

// loginCookie holds a random nonce for the login form's synchronizer
// token, since there is no session yet to derive it from.
const loginCookie = "hpcgate-login"

func (s *Server) cookiePath() string { return s.base }

func (s *Server) setCookie(c *gin.Context, name, value string, maxAge time.Duration) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     s.cookiePath(),
		MaxAge:   int(maxAge / time.Second),
		Expires:  s.now().Add(maxAge),
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearCookie(c *gin.Context, name string) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     name,
		Value:    "",
		Path:     s.cookiePath(),
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

// startSession records a new login session for user and sets its cookie.
func (s *Server) startSession(c *gin.Context, user string) (string, error) {
	id, err := s.store.CreateSession(c.Request.Context(), user, s.now().Add(s.lifetime))
	if err != nil {
		return "", err
	}
	sealed, err := s.keys.seal(sessionCookie, id)
	if err != nil {
		return "", err
	}
	s.setCookie(c, sessionCookie, sealed, s.lifetime)
	return id, nil
}

// identifyCookie returns the identity of a valid, unrevoked, unexpired
// session cookie, or nil. A cookie that fails any check is cleared so the
// browser stops sending it.
func (s *Server) identifyCookie(c *gin.Context) *identity {
	raw, err := c.Cookie(sessionCookie)
	if err != nil || raw == "" {
		return nil
	}
	id, err := s.keys.open(sessionCookie, raw)
	if err != nil {
		s.log.WarnContext(c.Request.Context(), "refused session cookie", "remote", c.ClientIP(), "err", err)
		s.clearCookie(c, sessionCookie)
		return nil
	}
	ctx := c.Request.Context()
	sess, err := s.store.GetSession(ctx, id)
	switch {
	case isNotFound(err):
		// Logged out, expired, or revoked by an admin.
		s.clearCookie(c, sessionCookie)
		return nil
	case err != nil:
		s.log.ErrorContext(ctx, "look up session", "err", err)
		return nil
	}
	u, err := s.store.GetUser(ctx, sess.User)
	if err != nil {
		s.log.ErrorContext(ctx, "look up session user", "user", sess.User, "err", err)
		return nil
	}
	return &identity{Name: u.Name, Admin: u.Admin, Groups: u.Groups, SessionID: id, ViaCookie: true}
}

// identifyToken returns the identity of a valid API token, or nil.
func (s *Server) identifyToken(ctx context.Context, plain string) (*identity, error) {
	t, err := s.store.LookupToken(ctx, plain)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	if !t.Expires.IsZero() && !t.Expires.After(s.now()) {
		return nil, nil
	}
	// An OAuth token lives as long as the login it was issued under.
	if t.SessionID != "" {
		if _, err := s.store.GetSession(ctx, t.SessionID); err != nil {
			if isNotFound(err) {
				return nil, nil
			}
			return nil, err
		}
	}
	u, err := s.store.GetUser(ctx, t.User)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return &identity{Name: u.Name, Admin: u.Admin, Groups: u.Groups, SessionID: t.SessionID, Token: t,
		Limited: t.Kind == TokenUser && len(t.Scopes) > 0}, nil
}
