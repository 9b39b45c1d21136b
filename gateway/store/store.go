// Package store keeps the hub's state: users, their servers (one row per
// user and server name, reused by each spawn), API tokens (hashes only),
// login sessions, OAuth codes and an event history. It speaks SQL through
// sqlx to SQLite (modernc.org/sqlite, pure Go, the embedded default) or
// PostgreSQL (lib/pq), with versioned migrations embedded in the binary.
//
// It is an adapter: it implements the domain's store interfaces
// (gateway.ServerStore, UserStore, TokenStore, SessionStore, EventStore)
// over the domain's types, imports gateway and nothing else of hpcgate,
// and cmd wires it in.
package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"hpcgate/gateway"
)

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// busyTimeout is how long a SQLite writer waits for another process (an
// `hpcgate token` run beside the hub) to release the database.
const busyTimeout = 10 * time.Second

// Store is the hub's database. Its methods are safe for concurrent use.
type Store struct {
	dialect string
	path    string // the SQLite file; "" for PostgreSQL
	url     string // the PostgreSQL URL (the listener connects with it); "" for SQLite
	// tag tells this process's notifications from the other replicas'
	// (replica.go).
	tag string
	// db takes every write. For SQLite it holds a single connection, so
	// the hub's own writers queue in Go instead of failing with
	// SQLITE_BUSY, and its transactions begin IMMEDIATE so that a read
	// followed by a write in one transaction never needs a lock upgrade.
	db *sqlx.DB
	// rdb serves reads. For SQLite it is a separate pool of read-only
	// connections (WAL lets them run beside the writer); for PostgreSQL
	// it is db.
	rdb        *sqlx.DB
	now        func() time.Time
	log        *slog.Logger
	migrations []Migration
	uses       useLog
	ids        identityCache
	stmts      stmtCache
}

// OpenOptions adjust OpenWith.
type OpenOptions struct {
	// NoMigrate opens an existing database whose schema is behind this
	// binary's instead of refusing it; `hpcgate upgrade-db` uses it to
	// call Backup and Migrate. A new, empty database is migrated anyway.
	NoMigrate bool
	// Now is the clock for creation times, expiry checks and last-used
	// stamps. Default: time.Now.
	Now func() time.Time
	// Logger receives one line per applied migration. Default: slog.Default().
	Logger *slog.Logger
}

// Open opens the database at url and migrates a new one; see OpenWith.
func Open(ctx context.Context, url string) (*Store, error) {
	return OpenWith(ctx, url, OpenOptions{})
}

// OpenWith opens the database at url: `sqlite:///abs/path.sqlite` or a bare
// file path for SQLite (the file is created, mode 0600, if missing), or
// `postgres://…` / `postgresql://…` for PostgreSQL (the database must exist).
// A new, empty database is migrated to the latest version. An existing one
// whose schema is older than this binary's is refused with an error
// wrapping ErrMigrationsPending unless o.NoMigrate is set; one that is newer
// is always refused.
func OpenWith(ctx context.Context, url string, o OpenOptions) (*Store, error) {
	return openWith(ctx, url, o, embedded)
}

func openWith(ctx context.Context, url string, o OpenOptions, migs map[string][]Migration) (*Store, error) {
	s := &Store{now: o.Now, log: o.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	var err error
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		s.dialect = Postgres
		err = s.openPostgres(ctx, url)
	case strings.Contains(url, "://") && !strings.HasPrefix(url, "sqlite://"):
		return nil, fmt.Errorf("open database: unsupported URL %q: want sqlite:///path or postgres://", redact(url))
	default:
		s.dialect = SQLite
		s.path = strings.TrimPrefix(url, "sqlite://")
		err = s.openSQLite(ctx)
	}
	if err != nil {
		return nil, err
	}
	s.migrations = migs[s.dialect]
	if err := s.checkSchema(ctx, o.NoMigrate); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) openSQLite(ctx context.Context) error {
	if s.path == "" || strings.ContainsAny(s.path, "?#") {
		return fmt.Errorf("open database: bad SQLite path %q (want sqlite:///absolute/path.sqlite)", s.path)
	}
	// The file holds token hashes and session ids: create it private.
	// SQLite gives the -wal and -shm files the same mode.
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open database %s: %w", s.path, err)
	}
	f.Close()
	ms := int(busyTimeout / time.Millisecond)
	dsn := func(extra string) string {
		return fmt.Sprintf("file:%s?_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)%s", s.path, ms, extra)
	}
	// journal_mode is a property of the file: the writer sets it before
	// any reader connects.
	s.db, err = sqlx.Open("sqlite", dsn("&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"))
	if err != nil {
		return fmt.Errorf("open database %s: %w", s.path, err)
	}
	s.db.SetMaxOpenConns(1)
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return fmt.Errorf("open database %s: %w", s.path, err)
	}
	s.rdb, err = sqlx.Open("sqlite", dsn("&_pragma=query_only(1)"))
	if err != nil {
		s.db.Close()
		return fmt.Errorf("open database %s: %w", s.path, err)
	}
	s.rdb.SetMaxOpenConns(max(4, runtime.NumCPU()))
	s.rdb.SetMaxIdleConns(max(4, runtime.NumCPU()))
	return nil
}

func (s *Store) openPostgres(ctx context.Context, url string) error {
	db, err := sqlx.Open("postgres", url)
	if err != nil {
		return fmt.Errorf("open database %s: %w", redact(url), err)
	}
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(5)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return fmt.Errorf("open database %s: %w", redact(url), err)
	}
	s.db, s.rdb = db, db
	s.url = url
	// Other replicas (and `hpcgate token`, `hpcgate admin` beside them)
	// must hear what this process revokes (forget.go).
	s.tag = newTag()
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.stopFlusher()
	err := errors.Join(s.closeStmts(), s.db.Close())
	if s.rdb != s.db {
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}

// Ping checks that the database answers (for /hub/health).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Dialect is SQLite or Postgres.
func (s *Store) Dialect() string { return s.dialect }

// Path is the SQLite file, or "" for PostgreSQL.
func (s *Store) Path() string { return s.path }

// q rebinds a query written with ? placeholders for the dialect; the SQL
// of both dialects is otherwise the same (both have RETURNING, ON
// CONFLICT and fixed-width text timestamps compare correctly in SQLite).
func (s *Store) q(query string) string {
	if s.dialect == Postgres {
		return sqlx.Rebind(sqlx.DOLLAR, query)
	}
	return query
}

// in expands a "x IN (?)" slice argument and rebinds.
func (s *Store) in(query string, args ...any) (string, []any, error) {
	query, args, err := sqlx.In(query, args...)
	if err != nil {
		return "", nil, err
	}
	return s.q(query), args, nil
}

// isUnique reports whether err is a unique-constraint violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pq.Error
	return errors.As(err, &pe) && pe.Code == "23505"
}

// redact hides a password in a database URL before it reaches an error.
func redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	creds, host, ok := strings.Cut(rest, "@")
	if !ok {
		return url
	}
	if user, _, hasPw := strings.Cut(creds, ":"); hasPw {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return url
}

// tsLayout writes every timestamp in UTC with microseconds (PostgreSQL's
// precision) and a fixed width, so that in SQLite, where they are TEXT,
// comparing strings compares times.
const tsLayout = "2006-01-02T15:04:05.000000Z07:00"

// tstamp is a time.Time as stored: NULL for the zero time.
type tstamp time.Time

func ts(t time.Time) tstamp { return tstamp(t) }

func (t tstamp) Time() time.Time { return time.Time(t) }

// Value implements driver.Valuer.
func (t tstamp) Value() (driver.Value, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return nil, nil
	}
	return tt.UTC().Truncate(time.Microsecond).Format(tsLayout), nil
}

// Scan implements sql.Scanner: SQLite gives the text back, PostgreSQL a
// time.Time in the session's zone.
func (t *tstamp) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case nil:
		*t = tstamp{}
		return nil
	case time.Time:
		*t = tstamp(v.UTC())
		return nil
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("timestamp: cannot scan %T", src)
	}
	if p, ok := parseStamp(s); ok {
		*t = tstamp(p)
		return nil
	}
	p, err := time.Parse(tsLayout, s)
	if err != nil {
		if p, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Errorf("timestamp: %w", err)
		}
	}
	*t = tstamp(p.UTC())
	return nil
}

// parseStamp reads what tstamp writes to SQLite (tsLayout in UTC: fixed
// width, "Z") without time.Parse's generality, which was a tenth of a
// user list's reads; false for anything else, which time.Parse then reads.
func parseStamp(s string) (time.Time, bool) {
	if len(s) != len("2006-01-02T15:04:05.000000Z") || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
		s[13] != ':' || s[16] != ':' || s[19] != '.' || s[26] != 'Z' {
		return time.Time{}, false
	}
	ok := true
	num := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				ok = false
				return 0
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, mo, d := num(0, 4), num(5, 7), num(8, 10)
	h, mi, sec, us := num(11, 13), num(14, 16), num(17, 19), num(20, 26)
	if !ok || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, us*1000, time.UTC)
	if t.Day() != d { // the 30th of February, which time.Parse refuses
		return time.Time{}, false
	}
	return t, true
}

// utc normalises a time to what a round trip through the store gives back.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// secret returns 32 random bytes as hex, and the sha256 hex the store
// keeps in its place.
func secret() (plain, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generate secret: %w", err)
	}
	plain = hex.EncodeToString(b)
	return plain, hashSecret(plain), nil
}

func hashSecret(plain string) string {
	h := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(h[:])
}

// The domain's interfaces, all kept in this one database.
var (
	_ gateway.ServerStore  = (*Store)(nil)
	_ gateway.UserStore    = (*Store)(nil)
	_ gateway.TokenStore   = (*Store)(nil)
	_ gateway.SessionStore = (*Store)(nil)
	_ gateway.EventStore   = (*Store)(nil)
)
