package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// What the login form says. Wrong password and unknown user read the same,
// so the form does not tell which names exist.
const (
	msgInvalidLogin = "Invalid username or password"
	msgNotAllowed   = "Your account is not allowed to use this service; ask your centre's support"
	msgUnavailable  = "The login service cannot reach the directory right now; please try again in a few minutes"
	msgFormExpired  = "The login form had expired; please try again"
	msgSystem       = "System and service accounts may not log in to this service; log in with your personal account"
)

// loginCookieLifetime bounds how long a login form stays usable.
const loginCookieLifetime = time.Hour

type loginData struct {
	Username string
	Next     string
	Error    string
}

// hubRoot is /hub/: home for the logged in, the login page for others.
func (s *Server) hubRoot(c *gin.Context) {
	if who(c) != nil {
		c.Redirect(http.StatusFound, s.hubPrefix+"home")
		return
	}
	c.Redirect(http.StatusFound, s.hubPrefix+"login")
}

func (s *Server) loginPage(c *gin.Context) {
	next := s.safeNext(c.Query("next"))
	if id := who(c); id != nil && id.ViaCookie {
		// A session from before the /user/ gate had its own cookie comes
		// here from /user/ to get one.
		if err := s.setUserCookie(c, id.SessionID, id.Expires); err != nil {
			s.failPage(c, fmt.Errorf("set the /user/ cookie of %s: %w", id.Name, err))
			return
		}
		c.Redirect(http.StatusFound, s.afterLogin(next))
		return
	}
	s.renderLogin(c, http.StatusOK, loginData{Next: next})
}

// renderLogin renders the form with a synchronizer token tied to a fresh
// nonce cookie.
func (s *Server) renderLogin(c *gin.Context, status int, d loginData) {
	nonce, err := randomID(18)
	if err != nil {
		s.failPage(c, err)
		return
	}
	s.setCookie(c, loginCookie, s.hubCookiePath(), nonce, loginCookieLifetime)
	c.Set(ctxLoginXSRF, s.keys.xsrfToken(xsrfLogin, nonce))
	s.render(c, status, "login.html", "Log in", d)
}

// ctxLoginXSRF carries the login form's token to the page frame.
const ctxLoginXSRF = "hpcgate.loginxsrf"

func (s *Server) login(c *gin.Context) {
	ctx := c.Request.Context()
	next := s.safeNext(c.Query("next"))
	if next == "" {
		next = s.safeNext(c.PostForm("next"))
	}
	// The name is checked before anything else is done with it: a name
	// that is not a login name is never logged, keyed on or sent to the
	// directory (it may be a password typed in the wrong box, or
	// megabytes long), and the form does not show it again.
	raw := c.PostForm("username")
	name, ok := loginName(raw)
	if !ok {
		s.log.InfoContext(ctx, "login refused: not a valid user name", "user_length", len(raw), "remote", c.ClientIP())
		s.metrics.Refused("username")
		s.metrics.Login("invalid")
		s.renderLogin(c, http.StatusForbidden, loginData{Next: next, Error: msgInvalidLogin})
		return
	}
	password := c.PostForm("password")
	d := loginData{Username: name, Next: next}

	nonce, _ := c.Cookie(loginCookie)
	if !s.sameOrigin(c.Request) || !s.keys.checkXSRF(xsrfLogin, nonce, c.PostForm("_xsrf")) {
		s.log.WarnContext(ctx, "login form refused: bad xsrf token or origin", "remote", c.ClientIP())
		d.Error = msgFormExpired
		s.renderLogin(c, http.StatusForbidden, d)
		return
	}

	ip := c.ClientIP()
	if ok, wait := s.limiter.allowed(name, ip); !ok {
		s.log.WarnContext(ctx, "login rate limited", s.nameAttr(ctx, name), "remote", ip)
		s.metrics.Login("rate_limited")
		secs := int(wait.Round(time.Second) / time.Second)
		if secs < 1 {
			secs = 1
		}
		c.Header("Retry-After", fmt.Sprint(secs))
		d.Error = fmt.Sprintf("Too many failed attempts; wait %d seconds and try again", secs)
		s.renderLogin(c, http.StatusTooManyRequests, d)
		return
	}

	u, err := s.auth.Authenticate(ctx, name, password)
	switch {
	case errors.Is(err, gateway.ErrInvalidCredentials):
		s.limiter.failed(name, ip)
		s.log.InfoContext(ctx, "login failed", s.nameAttr(ctx, name), "remote", ip)
		s.metrics.Login("invalid")
		d.Error = msgInvalidLogin
		s.renderLogin(c, http.StatusForbidden, d)
		return
	case errors.Is(err, gateway.ErrSystemAccount):
		// Before any session: no job, and so no SSH certificate, for it.
		s.log.WarnContext(ctx, "login refused: system or service account", "user", name, "remote", ip, "err", err)
		s.metrics.Login("not_allowed")
		d.Error = msgSystem
		s.renderLogin(c, http.StatusForbidden, d)
		return
	case errors.Is(err, gateway.ErrNotAllowed):
		s.log.InfoContext(ctx, "login refused: not in an allowed group", "user", name, "remote", ip)
		s.metrics.Login("not_allowed")
		d.Error = msgNotAllowed
		s.renderLogin(c, http.StatusForbidden, d)
		return
	case errors.Is(err, gateway.ErrDirectoryUnavailable):
		s.log.ErrorContext(ctx, "login: directory unavailable", s.nameAttr(ctx, name), "err", err)
		s.metrics.Login("unavailable")
		d.Error = msgUnavailable
		s.renderLogin(c, http.StatusServiceUnavailable, d)
		return
	case err != nil:
		s.log.ErrorContext(ctx, "login failed", s.nameAttr(ctx, name), "err", err)
		s.metrics.Login("unavailable")
		d.Error = msgUnavailable
		s.renderLogin(c, http.StatusInternalServerError, d)
		return
	}
	s.limiter.succeeded(name, ip)
	s.metrics.Login("ok")

	if _, err := s.store.UpsertUser(ctx, gateway.User{Name: u.Name, Admin: u.Admin, Groups: u.Groups, LastLogin: s.now()}); err != nil {
		s.failPage(c, fmt.Errorf("record login of %s: %w", u.Name, err))
		return
	}
	// A new session id on every login: a session fixed before login (or
	// left by another user of this browser) ends here.
	if old := who(c); old != nil && old.ViaCookie {
		if err := s.store.RevokeSession(ctx, old.SessionID); err != nil {
			s.log.WarnContext(ctx, "revoke previous session", "user", old.Name, "err", err)
		}
	}
	if _, err := s.startSession(c, u.Name); err != nil {
		s.failPage(c, fmt.Errorf("start session for %s: %w", u.Name, err))
		return
	}
	s.clearCookie(c, loginCookie, s.hubCookiePath())
	c.Set(ctxUserName, u.Name)
	s.log.InfoContext(ctx, "login", "user", u.Name, "admin", u.Admin, "remote", ip)
	c.Redirect(http.StatusFound, s.afterLogin(next))
}

// maxUsernameInput bounds the login name as typed, before it is even
// normalised: generous for surrounding white space around a 32-character
// name, far below anything that costs memory or log space.
const maxUsernameInput = 256

// loginName is the typed name normalised (white space trimmed, ASCII
// lower-cased, as gateway.NormalizeUsername does for the directory), and
// whether it is a valid login name at all.
func loginName(raw string) (string, bool) {
	if len(raw) > maxUsernameInput {
		return "", false
	}
	return gateway.NormalizeUsername(raw)
}

// nameAttr is how a login name that did not log in is logged: as itself
// if the hub has seen it log in before, else by its length only, since it
// may be a password typed in the name box.
func (s *Server) nameAttr(ctx context.Context, name string) slog.Attr {
	if _, err := s.store.GetUser(ctx, name); err == nil {
		return slog.String("user", name)
	}
	return slog.Int("user_length", len(name))
}

// afterLogin is where a login goes: the checked next, else home.
func (s *Server) afterLogin(next string) string {
	if next != "" {
		return next
	}
	return s.hubPrefix + "home"
}

// safeNext returns next if it is a path on this hub under base_url, and ""
// otherwise, so the login form cannot be used to send people to another
// site ("//evil", "https://evil", "/\evil").
func (s *Server) safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	if !strings.HasPrefix(u.Path, s.base) || strings.Contains(u.Path, "/../") || strings.HasSuffix(u.Path, "/..") {
		return ""
	}
	// Never come back to the login or logout pages.
	if strings.HasPrefix(u.Path, s.hubPrefix+"login") || strings.HasPrefix(u.Path, s.hubPrefix+"logout") {
		return ""
	}
	return next
}

func (s *Server) logoutPage(c *gin.Context) {
	if id := who(c); id == nil || !id.ViaCookie {
		c.Redirect(http.StatusFound, s.hubPrefix+"login")
		return
	}
	s.render(c, http.StatusOK, "logout.html", "Log out", nil)
}

// logout revokes the session (and with it the OAuth tokens issued under
// it) and clears the cookie.
func (s *Server) logout(c *gin.Context) {
	id := who(c)
	ctx := c.Request.Context()
	if err := s.store.RevokeSession(ctx, id.SessionID); err != nil {
		s.failPage(c, fmt.Errorf("log out %s: %w", id.Name, err))
		return
	}
	s.clearSessionCookies(c)
	s.log.InfoContext(ctx, "logout", "user", id.Name)
	c.Redirect(http.StatusFound, s.hubPrefix+"login")
}
