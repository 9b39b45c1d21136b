package web

import (
	"context"
	"errors"
	"time"

	"hpcgate/gateway"
)

// Store is what the web layer keeps in the database: users as they log
// in, login sessions, API tokens and OAuth codes. cmd passes *store.Store.
type Store interface {
	Ping(ctx context.Context) error

	UpsertUser(ctx context.Context, u gateway.User) (*gateway.User, error)
	GetUser(ctx context.Context, name string) (*gateway.User, error)
	ListUsers(ctx context.Context) ([]*gateway.User, error)
	ListUsersPage(ctx context.Context, q gateway.UserQuery) ([]*gateway.User, int, error)
	GetServerByID(ctx context.Context, id int64) (*gateway.Server, error)

	// User management and groups (api_users_admin.go, api_groups.go).
	CreateUsers(ctx context.Context, names []string, hubAdmin bool) ([]*gateway.User, error)
	SetHubAdmin(ctx context.Context, name string, admin bool) (*gateway.User, error)
	DeleteUser(ctx context.Context, name string) error
	RevokeUserAccess(ctx context.Context, user string) (sessions, tokens int64, err error)
	gateway.GroupStore
	// AddEvent records user management in the admin's audit trail.
	AddEvent(ctx context.Context, e gateway.Event) (int64, error)

	CreateSession(ctx context.Context, user string, expires time.Time) (string, error)
	GetSession(ctx context.Context, id string) (*gateway.Session, error)
	RevokeSession(ctx context.Context, id string) error

	NewToken(ctx context.Context, spec gateway.TokenSpec) (string, *gateway.Token, error)
	LookupToken(ctx context.Context, plain string) (*gateway.Token, error)
	ListTokens(ctx context.Context, user string) ([]*gateway.Token, error)
	DeleteToken(ctx context.Context, user string, id int64) error

	CreateOAuthCode(ctx context.Context, c gateway.OAuthCode) (string, error)
	ConsumeOAuthCode(ctx context.Context, code string) (*gateway.OAuthCode, error)
}

// Token kinds, the domain's.
const (
	TokenUser   = gateway.TokenAPI
	TokenServer = gateway.TokenServer
	TokenOAuth  = gateway.TokenOAuth
)

// Token is a stored API token (never its plain text).
type Token = gateway.Token

func isNotFound(err error) bool { return errors.Is(err, gateway.ErrNotFound) }
