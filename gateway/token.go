package gateway

import (
	"context"
	"time"
)

// Token kinds.
const (
	TokenAPI    = "api"    // made by a user on /hub/token, by an admin, or by `hpcgate token`
	TokenServer = "server" // given to a job as JUPYTERHUB_API_TOKEN; deleted with the next spawn
	TokenOAuth  = "oauth"  // issued to a single-user server for a browser's login session
)

// ServerScopes are the scopes of a server's own token, as JupyterHub 3.0
// gives it (role "server"): report the owner's activity and, as its OAuth
// client's secret, access that one server. Every token may also read its
// owner's name and groups.
func ServerScopes(user, server string) []string {
	return []string{"users:activity!user=" + user, "access:servers!server=" + user + "/" + server}
}

// Token is an API token as stored: everything but the token itself.
type Token struct {
	ID        int64
	User      string
	Kind      string
	Prefix    string // the token's first 4 characters, to tell tokens apart
	Note      string
	Scopes    []string
	Created   time.Time
	Expires   time.Time // zero: never
	LastUsed  time.Time // accurate to a minute
	ServerID  int64     // TokenServer: the server it belongs to
	SessionID string    // TokenOAuth: the login session it was issued under
}

// TokenSpec describes a token to make.
type TokenSpec struct {
	User, Kind, Note string
	Scopes           []string
	Expires          time.Time // zero: never
	ServerID         int64     // 0: none; the token dies with the server row
	SessionID        string    // "": none; the token dies with the session
}

// TokenStore keeps API tokens (their hashes only).
type TokenStore interface {
	// NewToken returns the token in plain text, the only time it exists.
	NewToken(ctx context.Context, spec TokenSpec) (string, *Token, error)
	// LookupToken: ErrNotFound when there is none or it expired.
	LookupToken(ctx context.Context, plain string) (*Token, error)
	ListTokens(ctx context.Context, user string) ([]*Token, error)
	// DeleteToken: ErrNotFound if user has no such token.
	DeleteToken(ctx context.Context, user string, id int64) error
	DeleteExpiredTokens(ctx context.Context, now time.Time) (int64, error)
}

// Session is a browser's login. Its id travels only inside the sealed
// session cookie; the row is what makes the cookie valid, so revoking the
// row logs the browser out at once.
type Session struct {
	ID        string
	User      string
	Created   time.Time
	Expires   time.Time
	RevokedAt time.Time // zero: not revoked
	LastSeen  time.Time // accurate to a minute
}

// Revoked reports whether the session was revoked (logged out).
func (s *Session) Revoked() bool { return !s.RevokedAt.IsZero() }

// OAuthCode is an authorization code of the hub's OAuth provider, which a
// single-user server exchanges for a token (JupyterHub's flow).
type OAuthCode struct {
	ClientID    string
	User        string
	RedirectURI string
	Scopes      []string
	SessionID   string // the login session that authorised it; "" for none
	Created     time.Time
	Expires     time.Time
}

// SessionStore keeps login sessions and OAuth codes.
type SessionStore interface {
	CreateSession(ctx context.Context, user string, expires time.Time) (string, error)
	// GetSession: ErrNotFound when missing, revoked or expired.
	GetSession(ctx context.Context, id string) (*Session, error)
	RevokeSession(ctx context.Context, id string) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)

	CreateOAuthCode(ctx context.Context, c OAuthCode) (string, error)
	// ConsumeOAuthCode returns and deletes the code at once: of two
	// exchanges only one succeeds.
	ConsumeOAuthCode(ctx context.Context, code string) (*OAuthCode, error)
	DeleteExpiredCodes(ctx context.Context, now time.Time) (int64, error)
}
