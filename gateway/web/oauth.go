package web

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// OAuth 2 authorization-code flow between the hub (provider) and each
// single-user server (client "jupyterhub-user-<name>", whose secret is the
// server's API token), as JupyterHub 3.0 runs it
// (research/anchors-jupyterhub.md §3.3): the browser comes to authorize
// with its hub session, gets a one-time code for its own server without a
// consent page, and the server swaps the code for an access token.

// oauthCodeLifetime is JupyterHub's: codes die after five minutes.
const oauthCodeLifetime = 5 * time.Minute

const clientPrefix = "jupyterhub-user-"

// clientOwner returns the user whose default server client_id names.
func clientOwner(clientID string) (string, bool) {
	rest, ok := strings.CutPrefix(clientID, clientPrefix)
	if !ok || rest == "" {
		return "", false
	}
	owner, err := url.PathUnescape(rest)
	if err != nil || owner == "" {
		return "", false
	}
	return owner, true
}

// callbackPath is the redirect_uri registered for owner's server.
func (s *Server) callbackPath(owner, server string) string {
	return gateway.UserURL(s.base, owner, server) + "oauth_callback"
}

// redirectURIOK accepts the registered callback as a path (what the
// single-user server sends when JUPYTERHUB_HOST is empty) or under the
// hub's public origin.
func (s *Server) redirectURIOK(owner, server, uri string) bool {
	want := s.callbackPath(owner, server)
	return uri == want || (s.origin != "" && uri == s.origin+want)
}

// oauthClient returns the server a client_id names
// (jupyterhub-user-<name>[-<server>]). A user name may hold '-' too, so the
// id alone can be read two ways: the redirect_uri, which is
// /user/<name>/[<server>/]oauth_callback, says which, and must name the
// same client. Without a redirect_uri the id names a default server.
func (s *Server) oauthClient(clientID, redirectURI string) (owner, server string, ok bool) {
	if redirectURI == "" {
		owner, ok = clientOwner(clientID)
		return owner, "", ok
	}
	p := redirectURI
	if s.origin != "" {
		p = strings.TrimPrefix(p, s.origin)
	}
	rest, ok1 := strings.CutPrefix(p, s.base+"user/")
	rest, ok2 := strings.CutSuffix(rest, "/oauth_callback")
	if !ok1 || !ok2 {
		return "", "", false
	}
	escOwner, server, _ := strings.Cut(rest, "/")
	owner, err := url.PathUnescape(escOwner)
	switch {
	case err != nil || owner == "" || strings.Contains(server, "/"):
		return "", "", false
	case server != "" && gateway.ValidServerName(server) != nil:
		return "", "", false
	case gateway.OAuthClientID(owner, server) != clientID:
		return "", "", false
	}
	return owner, server, true
}

// oauthAuthorize is GET /hub/api/oauth2/authorize.
func (s *Server) oauthAuthorize(c *gin.Context) {
	id := who(c)
	if id == nil || !id.ViaCookie {
		s.redirectToLogin(c)
		return
	}
	q := c.Request.URL.Query()
	clientID := q.Get("client_id")
	if sv := s.serviceClients[clientID]; sv != nil {
		s.serviceAuthorize(c, id, sv, q, false)
		return
	}
	s.serverAuthorize(c, id, q, false)
}

// serverAuthorize issues a code for a user's server to id (the browser's
// session). For one's own server it does so at once. For someone else's
// (an admin with admin_access, an instructor) only once id confirmed it on
// the hub's page, as JupyterHub asks: servers share the hub's origin, so a
// page of one user's server, open in the admin's browser, could otherwise
// frame or open another user's server and have the browser log in to it
// for its own script. The page cannot be framed (X-Frame-Options) or
// reached from a window the script opened (COOP), and its form is refused
// when a script sends it (requireForm).
func (s *Server) serverAuthorize(c *gin.Context, id *identity, q url.Values, confirmed bool) {
	clientID := q.Get("client_id")
	owner, server, ok := s.oauthClient(clientID, q.Get("redirect_uri"))
	if !ok {
		s.errorPage(c, http.StatusBadRequest, "Unknown OAuth client "+clientID+", or a redirect_uri not registered for it.")
		return
	}
	if !s.mayAccessServer(id, owner, server) {
		s.log.WarnContext(c.Request.Context(), "oauth: refused access to another user's server", "user", id.Name, "owner", owner)
		s.errorPage(c, http.StatusForbidden, "You may not use the server of "+owner+".")
		return
	}
	if rt := q.Get("response_type"); rt != "" && rt != "code" {
		s.errorPage(c, http.StatusBadRequest, "Unsupported response_type "+rt+"; only \"code\" is.")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if redirectURI == "" {
		redirectURI = s.callbackPath(owner, server)
	}
	if !s.redirectURIOK(owner, server, redirectURI) {
		s.errorPage(c, http.StatusBadRequest, "The redirect_uri is not the one registered for "+clientID+".")
		return
	}
	if owner != id.Name && !confirmed {
		s.render(c, http.StatusOK, "oauth_confirm.html", "Authorize access", oauthConfirmData{
			Owner: owner, Server: server, User: id.Name, Params: confirmParams(q),
		})
		return
	}
	code, err := s.store.CreateOAuthCode(c.Request.Context(), gateway.OAuthCode{
		ClientID:    clientID,
		User:        id.Name,
		SessionID:   id.SessionID,
		RedirectURI: redirectURI,
		Scopes:      grantScopes(id.Name, owner, server),
		Expires:     s.now().Add(oauthCodeLifetime),
	})
	if err != nil {
		s.failPage(c, fmt.Errorf("issue oauth code for %s: %w", id.Name, err))
		return
	}
	redirectWithCode(c, redirectURI, code, q)
}

// redirectWithCode sends the browser back to the client's redirect_uri
// with the authorization code and the client's state, as RFC 6749 §4.1.2.
func redirectWithCode(c *gin.Context, redirectURI, code string, q url.Values) {
	v := url.Values{"code": {code}}
	if st, ok := q["state"]; ok {
		v["state"] = st[:1]
	}
	sep := "?"
	if strings.Contains(redirectURI, "?") {
		sep = "&"
	}
	c.Redirect(http.StatusFound, redirectURI+sep+v.Encode())
}

// oauthError answers in JupyterHub's error shape with OAuth's error code
// beside it.
func oauthError(c *gin.Context, status int, code, message string) {
	c.AbortWithStatusJSON(status, gin.H{"status": status, "message": message, "error": code, "error_description": message})
}

// oauthToken is POST /hub/api/oauth2/token: the server proves it is the
// client (client_secret = its own API token), and swaps the code for an
// access token tied to the browser's session, so logging out revokes it.
func (s *Server) oauthToken(c *gin.Context) {
	ctx := c.Request.Context()
	c.Header("Cache-Control", "no-store")
	if gt := c.PostForm("grant_type"); gt != "authorization_code" {
		oauthError(c, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code")
		return
	}
	clientID, secret := c.PostForm("client_id"), c.PostForm("client_secret")
	if u, p, ok := c.Request.BasicAuth(); ok {
		clientID, secret = u, p
	}
	if sv := s.serviceClients[clientID]; sv != nil {
		// A service's client: its secret is the service's API token.
		if secret == "" || s.serviceForToken(secret) != sv {
			s.log.WarnContext(ctx, "oauth: wrong client secret", "client", clientID)
			oauthError(c, http.StatusUnauthorized, "invalid_client", "client authentication failed")
			return
		}
	} else {
		if !strings.HasPrefix(clientID, clientPrefix) || secret == "" {
			oauthError(c, http.StatusUnauthorized, "invalid_client", "unknown client or missing client_secret")
			return
		}
		tok, err := s.store.LookupToken(ctx, secret)
		if err != nil && !isNotFound(err) {
			s.fail(c, fmt.Errorf("check oauth client secret: %w", err))
			return
		}
		if err == nil && !s.isServerToken(c, tok, clientID) {
			err = gateway.ErrNotFound
		}
		if err != nil {
			s.log.WarnContext(ctx, "oauth: wrong client secret", "client", clientID)
			oauthError(c, http.StatusUnauthorized, "invalid_client", "client authentication failed")
			return
		}
	}
	code, err := s.store.ConsumeOAuthCode(ctx, c.PostForm("code"))
	if err != nil {
		if isNotFound(err) {
			oauthError(c, http.StatusBadRequest, "invalid_grant", "the code is unknown, already used or expired")
			return
		}
		s.fail(c, fmt.Errorf("consume oauth code: %w", err))
		return
	}
	switch {
	case !code.Expires.After(s.now()):
		oauthError(c, http.StatusBadRequest, "invalid_grant", "the code has expired")
		return
	case subtle.ConstantTimeCompare([]byte(code.ClientID), []byte(clientID)) != 1:
		oauthError(c, http.StatusBadRequest, "invalid_grant", "the code was issued to another client")
		return
	case c.PostForm("redirect_uri") != "" && c.PostForm("redirect_uri") != code.RedirectURI:
		oauthError(c, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match the authorization request")
		return
	}
	expires := s.now().Add(s.lifetime)
	if code.SessionID != "" {
		sess, err := s.store.GetSession(ctx, code.SessionID)
		if err != nil {
			// Logged out between authorize and exchange.
			oauthError(c, http.StatusBadRequest, "invalid_grant", "the login session that authorized the code has ended")
			return
		}
		if sess.Expires.Before(expires) {
			expires = sess.Expires
		}
	}
	plain, _, err := s.store.NewToken(ctx, gateway.TokenSpec{
		User:      code.User,
		Kind:      TokenOAuth,
		Note:      "OAuth token for " + clientID,
		Scopes:    code.Scopes,
		SessionID: code.SessionID,
		Expires:   expires,
	})
	if err != nil {
		s.fail(c, fmt.Errorf("issue oauth token for %s: %w", code.User, err))
		return
	}
	s.log.InfoContext(ctx, "oauth token issued", "user", code.User, "client", clientID)
	c.JSON(http.StatusOK, gin.H{
		"access_token": plain,
		"token_type":   "Bearer",
		"expires_in":   int64(expires.Sub(s.now()) / time.Second),
		"scope":        strings.Join(code.Scopes, " "),
	})
}

// accessScopes are the access scopes of owner's server, the ones it lists
// in JUPYTERHUB_OAUTH_ACCESS_SCOPES.
func accessScopes(owner, server string) []string {
	return []string{"access:servers!server=" + owner + "/" + server, "access:servers!user=" + owner}
}

// grantScopes are the scopes of a token issued to owner's server for
// user's browser: the server's access scopes that user holds as written,
// as JupyterHub 3.0's authorize handler intersects raw scopes. The owner
// gets both; an admin (admin_access) only access:servers!server=owner/,
// so the token the server keeps opens that one server and nothing of the
// admin's. Each use intersects them with the user's rights again.
func grantScopes(user, owner, server string) []string {
	if user == owner {
		return accessScopes(owner, server)
	}
	return accessScopes(owner, server)[:1]
}

// isServerToken reports whether tok is the API token of the server whose
// OAuth client is clientID: the only valid client_secret of that client.
func (s *Server) isServerToken(c *gin.Context, tok *Token, clientID string) bool {
	if tok.Kind != TokenServer || tok.ServerID == 0 {
		return false
	}
	srv, err := s.store.GetServerByID(c.Request.Context(), tok.ServerID)
	if err != nil {
		if !isNotFound(err) {
			s.log.ErrorContext(c.Request.Context(), "look up server of token", "user", tok.User, "err", err)
		}
		return false
	}
	return srv.User == tok.User && gateway.OAuthClientID(srv.User, srv.Name) == clientID
}
