package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// The reads behind the REST API's lists run as prepared statements, kept
// for the life of the Store: parsing and planning the SQL on every call
// was a third of a user-list request's CPU on SQLite. database/sql
// prepares each statement again, once, on every pooled connection that
// runs it. Lists of values go in one argument (anyOf), so that a
// statement's text does not change with the length of the list.

// maxStmts bounds the cache. Only query texts written in this package
// are cached, one per combination of a list's filters, so the bound is
// never reached unless one of them starts to vary; then the extra
// queries run unprepared rather than growing the cache.
const maxStmts = 128

type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sqlx.Stmt
}

// stmt is query (already rebound for the dialect) prepared on the read
// pool, or nil when the cache is full.
func (s *Store) stmt(ctx context.Context, query string) (*sqlx.Stmt, error) {
	c := &s.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st, nil
	}
	if len(c.m) >= maxStmts {
		return nil, nil
	}
	// Preparing under the lock: it happens once per query text, and two
	// callers must not both prepare and leak one statement.
	st, err := s.rdb.PreparexContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if c.m == nil {
		c.m = map[string]*sqlx.Stmt{}
	}
	c.m[query] = st
	return st, nil
}

// selectPrepared is rdb.SelectContext through the statement cache.
func (s *Store) selectPrepared(ctx context.Context, dest any, query string, args ...any) error {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return err
	}
	if st == nil {
		return s.rdb.SelectContext(ctx, dest, query, args...)
	}
	return st.SelectContext(ctx, dest, args...)
}

// queryPrepared is rdb.QueryContext through the statement cache.
func (s *Store) queryPrepared(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return s.rdb.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// queryRowPrepared is rdb.QueryRowContext through the statement cache.
func (s *Store) queryRowPrepared(ctx context.Context, query string, args ...any) rowScanner {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	if st == nil {
		return s.rdb.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

type rowScanner interface{ Scan(dest ...any) error }

// errRow is a row whose Scan fails with the error met before the query.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// closeStmts releases the prepared statements (Close).
func (s *Store) closeStmts() error {
	c := &s.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	var first error
	for q, st := range c.m {
		if err := st.Close(); err != nil && first == nil {
			first = fmt.Errorf("close statement: %w", err)
		}
		delete(c.m, q)
	}
	return first
}

// anyOf is the condition "col is one of the strings in the argument
// listArg made", whose text is the same for any number of values.
func (s *Store) anyOf(col string) string {
	if s.dialect == Postgres {
		return col + " = ANY(?)"
	}
	return col + " IN (SELECT value FROM json_each(?))"
}

// listArg is values as the one argument of anyOf: a PostgreSQL text
// array, or a JSON array for SQLite's json_each.
func (s *Store) listArg(values []string) (any, error) {
	if s.dialect == Postgres {
		return pq.StringArray(values), nil
	}
	b, err := json.Marshal(values)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}
