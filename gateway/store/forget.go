package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// forget names what a change to tokens, sessions or users makes every
// replica's identity cache forget (identity.go): all credentials, and
// some users.
type forget struct {
	creds bool
	users []string
}

// messages are f as the identity channel carries it: "c", "u <name>".
func (f forget) messages() []string {
	var out []string
	if f.creds {
		out = append(out, "c")
	}
	for _, u := range f.users {
		out = append(out, "u "+u)
	}
	return out
}

// tellIn has the other replicas forget f when tx commits. PostgreSQL
// delivers a NOTIFY issued in a transaction at its commit, atomically
// with it, and never if it rolls back: a replica dying between a
// revocation and its notification cannot leave the others trusting a
// revoked credential. SQLite has a single hub: nothing to tell.
func (s *Store) tellIn(ctx context.Context, tx *sqlx.Tx, f forget) error {
	msgs := f.messages()
	if s.dialect != Postgres || len(msgs) == 0 {
		return nil
	}
	for i := range msgs {
		msgs[i] = s.tag + " " + msgs[i]
	}
	// One statement however many users (a bulk creation).
	if _, err := tx.ExecContext(ctx, "SELECT pg_notify($1, m) FROM unnest($2::text[]) AS m",
		channelIdentity, pq.Array(msgs)); err != nil {
		return fmt.Errorf("tell other replicas what to forget: %w", err)
	}
	return nil
}

// errUnchanged ends change's transaction with nothing to tell.
var errUnchanged = errors.New("nothing changed")

// change runs fn in a transaction that tells the other replicas f as it
// commits, and forgets f here after the commit, or after a commit whose
// outcome is unknown. fn returning errUnchanged rolls back and tells
// nothing, so that a statement matching no row (a guessed token id)
// empties no cache.
func (s *Store) change(ctx context.Context, f forget, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); errors.Is(err, errUnchanged) {
		return nil
	} else if err != nil {
		return err
	}
	if err := s.tellIn(ctx, tx, f); err != nil {
		return err
	}
	err = tx.Commit()
	s.ids.forget(f)
	return err
}

// execChange runs one statement with change and returns how many rows it
// touched.
func (s *Store) execChange(ctx context.Context, f forget, query string, args ...any) (int64, error) {
	var n int64
	err := s.change(ctx, f, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		if n == 0 {
			return errUnchanged
		}
		return nil
	})
	return n, err
}
