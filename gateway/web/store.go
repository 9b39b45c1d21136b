package web

import (
	"context"
	"errors"
	"time"

	"hpcgate/gateway/store"
)

// Store is what the web layer keeps in the database: users as they log
// in, login sessions, API tokens and OAuth codes (*store.Store).
type Store interface {
	Ping(ctx context.Context) error

	UpsertUser(ctx context.Context, u store.User) (*store.User, error)
	GetUser(ctx context.Context, name string) (*store.User, error)
	ListUsers(ctx context.Context) ([]*store.User, error)
	GetServerByID(ctx context.Context, id int64) (*store.Server, error)

	CreateSession(ctx context.Context, user string, expires time.Time) (string, error)
	GetSession(ctx context.Context, id string) (*store.Session, error)
	RevokeSession(ctx context.Context, id string) error

	NewToken(ctx context.Context, spec store.TokenSpec) (string, *store.Token, error)
	LookupToken(ctx context.Context, plain string) (*store.Token, error)
	ListTokens(ctx context.Context, user string) ([]*store.Token, error)
	DeleteToken(ctx context.Context, user string, id int64) error

	CreateOAuthCode(ctx context.Context, c store.OAuthCode) (string, error)
	ConsumeOAuthCode(ctx context.Context, code string) (*store.OAuthCode, error)
}

var _ Store = (*store.Store)(nil)

// Token kinds, the store's.
const (
	TokenUser   = store.KindAPI
	TokenServer = store.KindServer
	TokenOAuth  = store.KindOAuth
)

// Token is a stored API token (never its plain text).
type Token = store.Token

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
