package web

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// tokenModel is JupyterHub's token model (apihandlers/base.py
// token_model); the plaintext is only in the answer to its creation.
type tokenModel struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	User string `json:"user"`
	Note string `json:"note"`
	// OAuthClient is the client an OAuth token was issued to, "" else.
	OAuthClient string `json:"oauth_client"`
	// TokenKind is hpcgate's addition: api, server or oauth.
	TokenKind    string     `json:"token_kind"`
	Created      *time.Time `json:"created"`
	ExpiresAt    *time.Time `json:"expires_at"`
	LastActivity *time.Time `json:"last_activity"`
	SessionID    *string    `json:"session_id"`
	Roles        []string   `json:"roles"`
	Scopes       []string   `json:"scopes"`
	Token        string     `json:"token,omitempty"`
}

func tokenModelOf(t *Token) tokenModel {
	return tokenModel{
		Kind:         "api_token",
		ID:           strconv.FormatInt(t.ID, 10),
		User:         t.User,
		Note:         t.Note,
		TokenKind:    t.Kind,
		OAuthClient:  oauthClientOf(t),
		Created:      timePtr(t.Created),
		ExpiresAt:    timePtr(t.Expires),
		LastActivity: timePtr(t.LastUsed),
		SessionID:    strPtr(t.SessionID),
		Roles:        []string{},
		Scopes:       []string{},
	}
}

// liveTokens lists user's unexpired tokens.
func (s *Server) liveTokens(c *gin.Context, user string) ([]*Token, error) {
	all, err := s.store.ListTokens(c.Request.Context(), user)
	if err != nil {
		return nil, fmt.Errorf("list tokens of %s: %w", user, err)
	}
	now := s.now()
	var out []*Token
	for _, t := range all {
		if t.Expires.IsZero() || t.Expires.After(now) {
			out = append(out, t)
		}
	}
	return out, nil
}

// apiTokens is GET /hub/api/users/<name>/tokens.
func (s *Server) apiTokens(c *gin.Context) {
	user := c.Param("user")
	tokens, err := s.liveTokens(c, user)
	if err != nil {
		s.fail(c, err)
		return
	}
	models := make([]tokenModel, 0, len(tokens))
	for _, t := range tokens {
		models = append(models, tokenModelOf(t))
	}
	c.JSON(http.StatusOK, gin.H{"api_tokens": models})
}

// createTokenBody is what POST .../tokens takes. Scopes are kept, as
// JupyterHub 3.0 keeps them (tokenScopeRequest); roles are accepted for
// JupyterHub clients and otherwise ignored.
type createTokenBody struct {
	Note      string   `json:"note"`
	ExpiresIn *int64   `json:"expires_in"`
	Roles     []string `json:"roles"`
	Scopes    []string `json:"scopes"`
}

// maxNote bounds a token's note.
const maxNote = 200

// createToken makes an API token for user; the plaintext is returned once
// and only its hash is stored.
func (s *Server) createToken(c *gin.Context, user, note string, expiresIn time.Duration, scopes []string) (string, *Token, error) {
	if len(note) > maxNote {
		return "", nil, gateway.FieldError("note", fmt.Sprintf("is longer than %d characters", maxNote))
	}
	if expiresIn < 0 {
		return "", nil, gateway.FieldError("expires_in", "must not be negative")
	}
	if expiresIn == 0 {
		expiresIn = s.cfg.TokenLifetime.D()
	}
	spec := gateway.TokenSpec{User: user, Kind: TokenUser, Note: note, Scopes: scopes}
	if expiresIn > 0 {
		spec.Expires = s.now().Add(expiresIn)
	}
	plain, t, err := s.store.NewToken(c.Request.Context(), spec)
	if err != nil {
		return "", nil, fmt.Errorf("create token for %s: %w", user, err)
	}
	s.log.InfoContext(c.Request.Context(), "api token created", "user", c.GetString(ctxUserName), "owner", user, "token", t.ID)
	return plain, t, nil
}

// apiCreateToken is POST /hub/api/users/<name>/tokens: 201 with the token.
func (s *Server) apiCreateToken(c *gin.Context) {
	id, user := who(c), c.Param("user")
	var body createTokenBody
	if err := decodeJSON(c.Request.Body, &body); err != nil {
		jsonError(c, http.StatusBadRequest, "Invalid JSON body: "+err.Error())
		return
	}
	if body.Note == "" {
		body.Note = "Requested via api"
		if id.Name != user {
			body.Note += " by user " + id.Name
		}
	}
	var expires time.Duration
	if body.ExpiresIn != nil {
		expires = time.Duration(*body.ExpiresIn) * time.Second
		if *body.ExpiresIn <= 0 {
			expires = -1
		}
	}
	scopes, err := tokenScopeRequest(id, user, body.Scopes)
	if err != nil {
		s.fail(c, err)
		return
	}
	plain, t, err := s.createToken(c, user, body.Note, expires, scopes)
	if err != nil {
		s.fail(c, err)
		return
	}
	m := tokenModelOf(t)
	m.Token = plain
	c.JSON(http.StatusCreated, m)
}

// maxTokenScopes bounds the scopes one request may ask for.
const maxTokenScopes = 100

// tokenScopeRequest checks the scopes a token is asked for (nil: the
// owner's rights, as JupyterHub's default "token" role) against the
// requester's: each must be a scope the requester holds, so a token asked
// for read:users!user=alice is that and no more, and a token with limited
// scopes cannot mint a broader one (its owner's full rights, or
// read:metrics, which only the operator grants). A requester with limited
// scopes must name them. Services keep JupyterHub 3.0's rule: their
// tokens are confined by the owner's rights at each use (tokenScopes).
func tokenScopeRequest(id *identity, owner string, requested []string) ([]string, error) {
	limited := id.Token != nil && id.Service == "" &&
		!(id.Token.Kind == TokenUser && (len(id.Token.Scopes) == 0 || containsScope(id.Token.Scopes, "inherit")))
	if len(requested) == 0 || containsScope(requested, "inherit") {
		if limited {
			return nil, gateway.Errorf(gateway.EINVALID, "a token with limited scopes must name the scopes of the token it requests")
		}
		if len(requested) > 1 {
			return nil, gateway.Errorf(gateway.EINVALID, "inherit cannot be combined with other scopes")
		}
		return nil, nil
	}
	if len(requested) > maxTokenScopes {
		return nil, gateway.Errorf(gateway.EINVALID, "at most %d scopes may be requested", maxTokenScopes)
	}
	for _, sc := range requested {
		want := expandScopes([]string{sc}, owner)
		if len(want) == 0 || len(sc) > 200 {
			return nil, gateway.Errorf(gateway.EINVALID, "%q is not a scope", clipScope(sc))
		}
		if id.Service != "" {
			continue
		}
		if got := want.intersect(id.Scopes); !slices.Equal(got.strings(), want.strings()) {
			return nil, gateway.Errorf(gateway.EINVALID, "Not assigning requested scopes %s not held by %s", clipScope(sc), id.Name)
		}
	}
	return requested, nil
}

func clipScope(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// ownToken finds token :id of :user, answering 404 if there is none.
func (s *Server) ownToken(c *gin.Context) *Token {
	user, tid := c.Param("user"), c.Param("id")
	tokens, err := s.liveTokens(c, user)
	if err != nil {
		s.fail(c, err)
		return nil
	}
	for _, t := range tokens {
		if strconv.FormatInt(t.ID, 10) == tid {
			return t
		}
	}
	jsonError(c, http.StatusNotFound, "No such token: "+tid)
	return nil
}

// apiToken is GET /hub/api/users/<name>/tokens/<id>.
func (s *Server) apiToken(c *gin.Context) {
	if t := s.ownToken(c); t != nil {
		c.JSON(http.StatusOK, tokenModelOf(t))
	}
}

// apiDeleteToken is DELETE /hub/api/users/<name>/tokens/<id>: 204.
func (s *Server) apiDeleteToken(c *gin.Context) {
	t := s.ownToken(c)
	if t == nil {
		return
	}
	if err := s.store.DeleteToken(c.Request.Context(), t.User, t.ID); err != nil {
		s.fail(c, fmt.Errorf("delete token %d: %w", t.ID, err))
		return
	}
	c.Status(http.StatusNoContent)
}

// oauthClientOf is the token model's oauth_client: JupyterHub 3.0 issues
// every token through an OAuth client, its own ("JupyterHub") for API
// tokens; an OAuth token here was issued to the owner's server.
func oauthClientOf(t *Token) string {
	if t.Kind == TokenOAuth {
		return "jupyterhub-user-" + t.User
	}
	return "JupyterHub"
}
