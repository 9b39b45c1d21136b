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
// admin) revokes it at once. Its path is the hub's (<base>hub/): requests
// to users' servers never carry it.
const sessionCookie = "hpcgate-session"

// userCookie lets a browser through the /user/ gate (userproxy.go): the
// same session id, sealed under this name, so it opens /user/ and nothing
// else (the hub's pages and API accept only sessionCookie, and the AEAD
// refuses a value moved from one name to the other). Its path is
// <base>user/, and the proxy removes it before forwarding, as every
// hpcgate-* cookie.
const userCookie = "hpcgate-user"

// loginCookie holds a random nonce for the login form's synchronizer
// token, since there is no session yet to derive it from.
const loginCookie = "hpcgate-login"

// hubCookiePath is where the hub's own cookies live.
func (s *Server) hubCookiePath() string { return s.hubPrefix }

func (s *Server) userCookiePath() string { return s.base + "user/" }

func (s *Server) setCookie(c *gin.Context, name, path, value string, maxAge time.Duration) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		MaxAge:   int(maxAge / time.Second),
		Expires:  s.now().Add(maxAge),
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearCookie(c *gin.Context, name, path string) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     name,
		Value:    "",
		Path:     path,
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

// clearSessionCookies forgets the session in the browser: both cookies,
// and the session cookie where earlier versions of hpcgate set it, on
// base_url, where every /user/ request carried it.
func (s *Server) clearSessionCookies(c *gin.Context) {
	s.clearCookie(c, sessionCookie, s.hubCookiePath())
	s.clearCookie(c, userCookie, s.userCookiePath())
	s.clearCookie(c, sessionCookie, s.base)
}

// startSession records a new login session for user and sets its cookies.
func (s *Server) startSession(c *gin.Context, user string) (string, error) {
	id, err := s.store.CreateSession(c.Request.Context(), user, s.now().Add(s.lifetime))
	if err != nil {
		return "", err
	}
	sealed, err := s.keys.seal(sessionCookie, id)
	if err != nil {
		return "", err
	}
	s.clearCookie(c, sessionCookie, s.base)
	s.setCookie(c, sessionCookie, s.hubCookiePath(), sealed, s.lifetime)
	if err := s.setUserCookie(c, id, s.now().Add(s.lifetime)); err != nil {
		return "", err
	}
	return id, nil
}

// setUserCookie gives the browser the /user/ gate's cookie for session
// id; it expires with the session.
func (s *Server) setUserCookie(c *gin.Context, id string, expires time.Time) error {
	sealed, err := s.keys.seal(userCookie, id)
	if err != nil {
		return err
	}
	s.setCookie(c, userCookie, s.userCookiePath(), sealed, expires.Sub(s.now()))
	return nil
}

// identifyCookie returns the identity of a valid, unrevoked, unexpired
// session cookie, or nil: name is sessionCookie for the hub's pages and
// API, userCookie for the /user/ gate, and neither accepts the other. A
// cookie that fails any check is cleared so the browser stops sending it.
func (s *Server) identifyCookie(c *gin.Context, name string) *identity {
	raw, err := c.Cookie(name)
	if err != nil || raw == "" {
		return nil
	}
	path := s.hubCookiePath()
	if name == userCookie {
		path = s.userCookiePath()
	}
	id, err := s.keys.open(name, raw)
	if err != nil {
		s.log.WarnContext(c.Request.Context(), "refused session cookie", "cookie", name, "remote", c.ClientIP(), "err", err)
		s.clearCookie(c, name, path)
		return nil
	}
	ctx := c.Request.Context()
	sess, err := s.store.GetSession(ctx, id)
	switch {
	case isNotFound(err):
		// Logged out, expired, or revoked by an admin.
		s.clearCookie(c, name, path)
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
	admin, groups := u.IsAdmin(), u.AllGroups()
	who := &identity{Name: u.Name, Admin: admin, Groups: groups, SessionID: id, Expires: sess.Expires}
	if name == userCookie {
		// Good for the /user/ gate only: no page, form or API call.
		who.Scopes = s.gateScopes(u.Name, admin, groups)
		return who
	}
	who.Scopes = s.roleScopes(u.Name, admin, groups)
	who.ViaCookie = true
	return who
}

// identifyToken returns the identity of a valid API token, or nil.
func (s *Server) identifyToken(ctx context.Context, plain string) (*identity, error) {
	if sv := s.serviceForToken(plain); sv != nil {
		return serviceIdentity(sv), nil
	}
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
	admin, groups := u.IsAdmin(), u.AllGroups()
	return &identity{Name: u.Name, Admin: admin, Groups: groups, SessionID: t.SessionID, Token: t,
		Scopes: s.tokenScopes(t, u.Name, admin, groups)}, nil
}
