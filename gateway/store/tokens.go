package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"hpcgate/gateway"
)

// usedEvery is how stale a token's last-used time may get: recording every
// request would turn each API call into a database write.
const usedEvery = time.Minute

type tokenRow struct {
	ID        int64          `db:"id"`
	User      string         `db:"username"`
	Kind      string         `db:"kind"`
	Prefix    string         `db:"prefix"`
	Note      string         `db:"note"`
	Scopes    string         `db:"scopes"`
	Created   tstamp         `db:"created_at"`
	Expires   tstamp         `db:"expires_at"`
	LastUsed  tstamp         `db:"last_used"`
	ServerID  sql.NullInt64  `db:"server_id"`
	SessionID sql.NullString `db:"session_id"`
}

const tokenCols = "id, username, kind, prefix, note, scopes, created_at, expires_at, last_used, server_id, session_id"

func (r *tokenRow) token() (*gateway.Token, error) {
	t := &gateway.Token{ID: r.ID, User: r.User, Kind: r.Kind, Prefix: r.Prefix, Note: r.Note,
		Created: r.Created.Time(), Expires: r.Expires.Time(), LastUsed: r.LastUsed.Time(),
		ServerID: r.ServerID.Int64, SessionID: r.SessionID.String}
	if err := json.Unmarshal([]byte(r.Scopes), &t.Scopes); err != nil {
		return nil, fmt.Errorf("token %d: scopes: %w", r.ID, err)
	}
	return t, nil
}

// NewToken makes a token and returns it in plain text, the only time it is
// ever available: the store keeps its sha256.
func (s *Store) NewToken(ctx context.Context, spec gateway.TokenSpec) (string, *gateway.Token, error) {
	switch spec.Kind {
	case gateway.TokenAPI, gateway.TokenServer, gateway.TokenOAuth:
	default:
		return "", nil, fmt.Errorf("new token for %s: unknown kind %q", spec.User, spec.Kind)
	}
	scopes, err := marshal(spec.Scopes, "[]")
	if err != nil {
		return "", nil, fmt.Errorf("new token for %s: %w", spec.User, err)
	}
	plain, hash, err := secret()
	if err != nil {
		return "", nil, err
	}
	var r tokenRow
	err = s.db.GetContext(ctx, &r, s.q(`INSERT INTO api_tokens
		(username, hash, prefix, kind, note, scopes, created_at, expires_at, server_id, session_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+tokenCols),
		spec.User, hash, plain[:4], spec.Kind, spec.Note, scopes, ts(s.now()), ts(spec.Expires),
		sql.NullInt64{Int64: spec.ServerID, Valid: spec.ServerID != 0},
		sql.NullString{String: spec.SessionID, Valid: spec.SessionID != ""})
	if err != nil {
		return "", nil, fmt.Errorf("new %s token for %s: %w", spec.Kind, spec.User, err)
	}
	t, err := r.token()
	if err != nil {
		return "", nil, err
	}
	return plain, t, nil
}

// LookupToken returns the token whose plain text is plain, or gateway.ErrNotFound
// when there is none or it has expired. It stamps the last use when the
// recorded one is a minute old or more.
func (s *Store) LookupToken(ctx context.Context, plain string) (*gateway.Token, error) {
	if plain == "" {
		return nil, fmt.Errorf("token: %w", gateway.ErrNotFound)
	}
	hash := hashSecret(plain)
	t, ok := s.ids.token(hash) // identity.go
	if !ok {
		gen := s.ids.generation()
		var r tokenRow
		err := s.rdb.GetContext(ctx, &r, s.q("SELECT "+tokenCols+" FROM api_tokens WHERE hash = ?"), hash)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("token: %w", gateway.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("look up token: %w", err)
		}
		if t, err = r.token(); err != nil {
			return nil, err
		}
		s.ids.putToken(gen, hash, t)
	}
	now := s.now()
	if !t.Expires.IsZero() && !t.Expires.After(now) {
		return nil, fmt.Errorf("token %d: expired: %w", t.ID, gateway.ErrNotFound)
	}
	if now.Sub(t.LastUsed) >= usedEvery {
		// Written in the background (uses.go), not on the request path.
		s.tokenUsed(t.ID, now)
		t.LastUsed = utc(now)
		s.ids.tokenSeen(hash, t.LastUsed)
	}
	return t, nil
}

// ListTokens returns a user's tokens, oldest first, expired ones included.
func (s *Store) ListTokens(ctx context.Context, user string) ([]*gateway.Token, error) {
	var rows []tokenRow
	if err := s.rdb.SelectContext(ctx, &rows, s.q("SELECT "+tokenCols+" FROM api_tokens WHERE username = ? ORDER BY id"), user); err != nil {
		return nil, fmt.Errorf("list tokens of %s: %w", user, err)
	}
	out := make([]*gateway.Token, 0, len(rows))
	for i := range rows {
		t, err := rows[i].token()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// DeleteToken deletes token id of user (gateway.ErrNotFound if user has no such
// token, so one user cannot delete another's by guessing ids).
func (s *Store) DeleteToken(ctx context.Context, user string, id int64) error {
	n, err := s.execChange(ctx, forget{creds: true}, s.q("DELETE FROM api_tokens WHERE id = ? AND username = ?"), id, user)
	if err != nil {
		return fmt.Errorf("delete token %d of %s: %w", id, user, err)
	}
	if n == 0 {
		return fmt.Errorf("token %d of %s: %w", id, user, gateway.ErrNotFound)
	}
	return nil
}

// DeleteExpiredTokens deletes the tokens expired at now and returns how many.
func (s *Store) DeleteExpiredTokens(ctx context.Context, now time.Time) (int64, error) {
	n, err := s.execChange(ctx, forget{creds: true}, s.q("DELETE FROM api_tokens WHERE expires_at IS NOT NULL AND expires_at <= ?"), ts(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired tokens: %w", err)
	}
	return n, nil
}
