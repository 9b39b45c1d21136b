package store

import (
	"context"
	"fmt"
	"time"
)

// UsersWithAccess returns, by name, the users who logged in at least once
// and hold a live session or an unexpired token at now: those whose rights
// the hub must keep checking against the directory. Users made only by
// `hpcgate token` (never logged in, e.g. a metrics scraper) are the
// sysadmin's and are left out.
func (s *Store) UsersWithAccess(ctx context.Context, now time.Time) ([]string, error) {
	var names []string
	err := s.rdb.SelectContext(ctx, &names, s.q(`SELECT name FROM users u WHERE last_login IS NOT NULL AND (
		EXISTS (SELECT 1 FROM sessions s WHERE s.username = u.name AND s.revoked_at IS NULL AND s.expires_at > ?)
		OR EXISTS (SELECT 1 FROM api_tokens t WHERE t.username = u.name AND (t.expires_at IS NULL OR t.expires_at > ?)))
		ORDER BY name`), ts(now), ts(now))
	if err != nil {
		return nil, fmt.Errorf("list users with sessions or tokens: %w", err)
	}
	return names, nil
}

// RevokeUserAccess ends, in one transaction, everything that lets user
// act through the hub: every token of every kind (API, server, OAuth),
// every OAuth code, and every login session. It returns how many sessions
// and tokens it ended; revoking twice is harmless.
func (s *Store) RevokeUserAccess(ctx context.Context, user string) (sessions, tokens int64, err error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("revoke access of %s: %w", user, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.q("DELETE FROM api_tokens WHERE username = ?"), user)
	if err == nil {
		tokens, err = res.RowsAffected()
	}
	if err == nil {
		_, err = tx.ExecContext(ctx, s.q("DELETE FROM oauth_codes WHERE username = ?"), user)
	}
	if err == nil {
		res, err = tx.ExecContext(ctx, s.q("UPDATE sessions SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL"), ts(s.now()), user)
	}
	if err == nil {
		sessions, err = res.RowsAffected()
	}
	f := forget{creds: true, users: []string{user}}
	if err == nil {
		err = s.tellIn(ctx, tx, f)
	}
	if err == nil {
		err = tx.Commit()
		s.ids.forget(f)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("revoke access of %s: %w", user, err)
	}
	return sessions, tokens, nil
}
