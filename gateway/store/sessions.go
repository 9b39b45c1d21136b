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

type sessionRow struct {
	ID        string `db:"id"`
	User      string `db:"username"`
	Created   tstamp `db:"created_at"`
	Expires   tstamp `db:"expires_at"`
	RevokedAt tstamp `db:"revoked_at"`
	LastSeen  tstamp `db:"last_seen"`
}

const sessionCols = "id, username, created_at, expires_at, revoked_at, last_seen"

func (r *sessionRow) session() *gateway.Session {
	return &gateway.Session{ID: r.ID, User: r.User, Created: r.Created.Time(), Expires: r.Expires.Time(),
		RevokedAt: r.RevokedAt.Time(), LastSeen: r.LastSeen.Time()}
}

// CreateSession starts a login session for user, valid until expires, and
// returns its id (32 random bytes, hex).
func (s *Store) CreateSession(ctx context.Context, user string, expires time.Time) (string, error) {
	id, _, err := secret()
	if err != nil {
		return "", err
	}
	now := ts(s.now())
	_, err = s.db.ExecContext(ctx, s.q("INSERT INTO sessions (id, username, created_at, expires_at, last_seen) VALUES (?, ?, ?, ?, ?)"),
		id, user, now, ts(expires), now)
	if err != nil {
		return "", fmt.Errorf("create session for %s: %w", user, err)
	}
	return id, nil
}

// GetSession returns a valid session: gateway.ErrNotFound when it does not exist,
// was revoked or has expired. It stamps last_seen at most once a minute.
func (s *Store) GetSession(ctx context.Context, id string) (*gateway.Session, error) {
	key := hashSecret(id)
	sess, ok := s.ids.session(key) // identity.go
	if !ok {
		gen := s.ids.generation()
		var r sessionRow
		err := s.rdb.GetContext(ctx, &r, s.q("SELECT "+sessionCols+" FROM sessions WHERE id = ?"), id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("session: %w", gateway.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("get session: %w", err)
		}
		sess = r.session()
		s.ids.putSession(gen, key, sess)
	}
	now := s.now()
	if sess.Revoked() || !sess.Expires.After(now) {
		return nil, fmt.Errorf("session of %s: revoked or expired: %w", sess.User, gateway.ErrNotFound)
	}
	if now.Sub(sess.LastSeen) >= usedEvery {
		// Written in the background (uses.go), not on the request path.
		s.sessionUsed(id, now)
		sess.LastSeen = utc(now)
		s.ids.sessionSeen(key, sess.LastSeen)
	}
	return sess, nil
}

// RevokeSession logs a session out: it is marked revoked and the OAuth
// tokens and codes issued under it are deleted, so the user's single-user
// servers stop accepting that browser too. Revoking twice is harmless;
// gateway.ErrNotFound when there is no such session.
func (s *Store) RevokeSession(ctx context.Context, id string) error {
	n, err := s.revoke(ctx, "id = ?", id)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("session: %w", gateway.ErrNotFound)
	}
	return nil
}

// RevokeUserSessions logs a user out everywhere and returns how many
// sessions that ended.
func (s *Store) RevokeUserSessions(ctx context.Context, user string) (int64, error) {
	n, err := s.revoke(ctx, "username = ? AND revoked_at IS NULL", user)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions of %s: %w", user, err)
	}
	return n, nil
}

// revoke marks the sessions matching where revoked and deletes what was
// issued under them, in one transaction; it returns how many it matched.
func (s *Store) revoke(ctx context.Context, where string, arg any) (int64, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	sub := "SELECT id FROM sessions WHERE " + where
	for _, table := range []string{"api_tokens", "oauth_codes"} {
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM "+table+" WHERE session_id IN ("+sub+")"), arg); err != nil {
			return 0, err
		}
	}
	res, err := tx.ExecContext(ctx, s.q("UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?) WHERE "+where), ts(s.now()), arg)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if err := s.commitForget(ctx, tx, forget{creds: true}); err != nil {
		return 0, err
	}
	return n, nil
}

// DeleteExpiredSessions deletes sessions expired at now, and revoked ones
// (the missing row refuses their cookie just the same), with whatever was
// issued under them; it returns how many.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	n, err := s.execChange(ctx, forget{creds: true}, s.q("DELETE FROM sessions WHERE expires_at <= ? OR revoked_at IS NOT NULL"), ts(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return n, nil
}

type codeRow struct {
	ClientID    string         `db:"client_id"`
	User        string         `db:"username"`
	RedirectURI string         `db:"redirect_uri"`
	Scopes      string         `db:"scopes"`
	SessionID   sql.NullString `db:"session_id"`
	Created     tstamp         `db:"created_at"`
	Expires     tstamp         `db:"expires_at"`
}

// CreateOAuthCode stores c (only the code's hash) and returns the code.
// c.Created is set by the store; c.Expires is required.
func (s *Store) CreateOAuthCode(ctx context.Context, c gateway.OAuthCode) (string, error) {
	if c.Expires.IsZero() {
		return "", fmt.Errorf("create OAuth code for %s: no expiry", c.User)
	}
	scopes, err := marshal(c.Scopes, "[]")
	if err != nil {
		return "", fmt.Errorf("create OAuth code for %s: %w", c.User, err)
	}
	code, hash, err := secret()
	if err != nil {
		return "", err
	}
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO oauth_codes
		(code_hash, client_id, username, redirect_uri, scopes, session_id, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		hash, c.ClientID, c.User, c.RedirectURI, scopes,
		sql.NullString{String: c.SessionID, Valid: c.SessionID != ""}, ts(s.now()), ts(c.Expires))
	if err != nil {
		return "", fmt.Errorf("create OAuth code for %s: %w", c.User, err)
	}
	return code, nil
}

// ConsumeOAuthCode returns the code's grant and deletes it in the same
// statement, so that of two concurrent exchanges only one succeeds; an
// unknown, used or expired code is gateway.ErrNotFound. The caller checks the
// client id and redirect URI against the request.
func (s *Store) ConsumeOAuthCode(ctx context.Context, code string) (*gateway.OAuthCode, error) {
	var r codeRow
	err := s.db.GetContext(ctx, &r, s.q(`DELETE FROM oauth_codes WHERE code_hash = ?
		RETURNING client_id, username, redirect_uri, scopes, session_id, created_at, expires_at`), hashSecret(code))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("OAuth code: %w", gateway.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("consume OAuth code: %w", err)
	}
	c := &gateway.OAuthCode{ClientID: r.ClientID, User: r.User, RedirectURI: r.RedirectURI,
		SessionID: r.SessionID.String, Created: r.Created.Time(), Expires: r.Expires.Time()}
	if !c.Expires.After(s.now()) {
		return nil, fmt.Errorf("OAuth code for %s: expired: %w", c.User, gateway.ErrNotFound)
	}
	if err := json.Unmarshal([]byte(r.Scopes), &c.Scopes); err != nil {
		return nil, fmt.Errorf("OAuth code for %s: scopes: %w", c.User, err)
	}
	return c, nil
}

// DeleteExpiredCodes deletes OAuth codes expired at now and returns how many.
func (s *Store) DeleteExpiredCodes(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q("DELETE FROM oauth_codes WHERE expires_at <= ?"), ts(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired OAuth codes: %w", err)
	}
	return res.RowsAffected()
}
