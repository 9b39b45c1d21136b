package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// OAuth for the site's services (JupyterHub 3.0's apihandlers/auth.py
// OAuthAuthorizeHandler for a service's client): the user must hold
// access:services on the service; unless the service is oauth_no_confirm,
// the user confirms first on a page of the hub's; the code, and the token
// it becomes, carry access:services!service=<name> and the service's
// oauth_client_allowed_scopes, each use judged again against the user's
// rights (tokenScopes), so the token opens that service and reads who the
// user is, and nothing else unless the site allowed it.

// serviceAuthorize answers the authorize request q of sv's client, for
// the logged-in id; confirmed is the confirmation page's POST.
func (s *Server) serviceAuthorize(c *gin.Context, id *identity, sv *service, q url.Values, confirmed bool) {
	name := sv.cfg.Name
	if !id.Scopes.allowsService("access:services", name) {
		s.log.WarnContext(c.Request.Context(), "oauth: refused access to a service", "user", id.Name, "service", name)
		s.errorPage(c, http.StatusForbidden, "You do not have permission to access the service "+name+".")
		return
	}
	if rt := q.Get("response_type"); rt != "" && rt != "code" {
		s.errorPage(c, http.StatusBadRequest, "Unsupported response_type "+rt+"; only \"code\" is.")
		return
	}
	if sv.rt.Token == "" {
		// Without a secret the client could never swap its code.
		s.errorPage(c, http.StatusBadRequest, "The service "+name+" has no API token, so it cannot log users in through the hub.")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if redirectURI == "" {
		redirectURI = sv.cfg.OAuthRedirectURI
	}
	want := sv.cfg.OAuthRedirectURI
	if redirectURI != want && !(strings.HasPrefix(want, "/") && s.origin != "" && redirectURI == s.origin+want) {
		s.errorPage(c, http.StatusBadRequest, "The redirect_uri is not the one registered for "+sv.cfg.OAuthClientID+".")
		return
	}
	if !sv.cfg.OAuthNoConfirm && !confirmed {
		s.render(c, http.StatusOK, "oauth_confirm.html", "Authorize access", oauthConfirmData{
			Service: name, User: id.Name, Scopes: sv.cfg.OAuthClientAllowedScopes, Params: confirmParams(q),
		})
		return
	}
	code, err := s.store.CreateOAuthCode(c.Request.Context(), gateway.OAuthCode{
		ClientID:    sv.cfg.OAuthClientID,
		User:        id.Name,
		SessionID:   id.SessionID,
		RedirectURI: redirectURI,
		Scopes:      serviceGrantScopes(sv),
		Expires:     s.now().Add(oauthCodeLifetime),
	})
	if err != nil {
		s.failPage(c, fmt.Errorf("issue oauth code for %s to service %s: %w", id.Name, name, err))
		return
	}
	s.log.InfoContext(c.Request.Context(), "oauth: user logged in to a service", "user", id.Name, "service", name)
	redirectWithCode(c, redirectURI, code, q)
}

// serviceGrantScopes are the scopes of a token issued to sv for a user:
// its access scope and its allowed scopes (JupyterHub: the client's
// allowed_scopes when the request names none).
func serviceGrantScopes(sv *service) []string {
	out := []string{"access:services!service=" + sv.cfg.Name}
	for _, sc := range sv.cfg.OAuthClientAllowedScopes {
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// oauthConfirmData is the confirmation page's: for a service (Service),
// or for another user's server (Owner, and Server when it is a named one).
type oauthConfirmData struct {
	Service, User string
	Owner, Server string
	Scopes        []string
	Params        [][2]string // the authorize request's parameters, sent back on confirm
}

// confirmParams are the authorize parameters the confirmation form
// carries back, one value each.
func confirmParams(q url.Values) [][2]string {
	var out [][2]string
	for _, k := range []string{"client_id", "redirect_uri", "response_type", "state", "scope"} {
		if v, ok := q[k]; ok {
			out = append(out, [2]string{k, v[0]})
		}
	}
	return out
}

// oauthAuthorizeConfirm is POST /hub/api/oauth2/authorize: the user
// confirmed on the page above (a form of this hub's, with its _xsrf).
func (s *Server) oauthAuthorizeConfirm(c *gin.Context) {
	id := who(c)
	if id == nil || !id.ViaCookie {
		s.redirectToLogin(c)
		return
	}
	if err := c.Request.ParseForm(); err != nil {
		s.errorPage(c, http.StatusBadRequest, "The form could not be read.")
		return
	}
	q := c.Request.PostForm
	if sv := s.serviceClients[q.Get("client_id")]; sv != nil {
		s.serviceAuthorize(c, id, sv, q, true)
		return
	}
	s.serverAuthorize(c, id, q, true)
}
