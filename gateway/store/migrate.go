package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
)

// The migrations are kept in one directory per dialect rather than one
// neutral set with rewriting: the DDL differs in exactly the places that
// matter (identity columns, TIMESTAMPTZ and JSONB against TEXT, BOOLEAN),
// and each file can be read and run as-is with psql or sqlite3. A test
// checks that both directories list the same versions and names.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// embedded is the migrations of each dialect, parsed once.
var embedded = mustLoadMigrations(migrationFS)

// ErrMigrationsPending is wrapped by Open's error for a database whose
// schema is older than this binary's.
var ErrMigrationsPending = errors.New("database migrations pending")

// ErrBackupUnsupported is Backup's error for PostgreSQL, which is backed up
// with the operator's own tools (pg_dump).
var ErrBackupUnsupported = errors.New("backup is only done for SQLite; back up PostgreSQL with pg_dump")

// PendingError says how far behind the database is.
type PendingError struct{ Have, Want int }

func (e *PendingError) Error() string {
	return fmt.Sprintf("database schema is at version %d, this hpcgate needs %d: run `hpcgate upgrade-db`", e.Have, e.Want)
}

func (e *PendingError) Unwrap() error { return ErrMigrationsPending }

// Migration is one numbered schema change, from migrations/<dialect>/NNNN_name.sql.
type Migration struct {
	Version int
	Name    string
	sql     string
}

func mustLoadMigrations(fsys fs.FS) map[string][]Migration {
	m := map[string][]Migration{}
	for _, d := range []string{SQLite, Postgres} {
		ms, err := loadMigrations(fsys, "migrations/"+d)
		if err != nil {
			panic(err)
		}
		m[d] = ms
	}
	return m
}

// loadMigrations reads NNNN_name.sql files, which must be numbered 1, 2, 3…
func loadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	files, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	var ms []Migration
	for i, f := range files {
		num, name, ok := strings.Cut(strings.TrimSuffix(path.Base(f), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v != i+1 {
			return nil, fmt.Errorf("migration %s: want the name %04d_<what>.sql", f, i+1)
		}
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: name, sql: string(b)})
	}
	return ms, nil
}

// Latest is the schema version this binary needs.
func (s *Store) Latest() int { return len(s.migrations) }

// Version is the schema version of the database: the highest applied
// migration, 0 for a new database.
func (s *Store) Version(ctx context.Context) (int, error) {
	tables, err := s.tables(ctx)
	if err != nil {
		return 0, err
	}
	if !slices.Contains(tables, "schema_migrations") {
		return 0, nil
	}
	var v int
	if err := s.db.GetContext(ctx, &v, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// tables lists the tables of the database (PostgreSQL: of the current schema).
func (s *Store) tables(ctx context.Context) ([]string, error) {
	query := "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
	if s.dialect == Postgres {
		query = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name"
	}
	var names []string
	if err := s.db.SelectContext(ctx, &names, query); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	return names, nil
}

// checkSchema migrates a new database and refuses one it cannot use.
func (s *Store) checkSchema(ctx context.Context, noMigrate bool) error {
	v, err := s.Version(ctx)
	if err != nil {
		return err
	}
	switch {
	case v > s.Latest():
		return fmt.Errorf("database schema is at version %d, newer than this hpcgate's %d: run a newer hpcgate", v, s.Latest())
	case v == s.Latest():
		return nil
	case v == 0:
		tables, err := s.tables(ctx)
		if err != nil {
			return err
		}
		tables = slices.DeleteFunc(tables, func(t string) bool { return t == "schema_migrations" })
		if len(tables) > 0 {
			// Never write into somebody else's database.
			return fmt.Errorf("database has tables (%s) but no hpcgate schema version: not an hpcgate database", strings.Join(tables, ", "))
		}
		return s.Migrate(ctx)
	case noMigrate:
		return nil
	}
	return &PendingError{Have: v, Want: s.Latest()}
}

// Pending lists the migrations not yet applied, oldest first.
func (s *Store) Pending(ctx context.Context) ([]Migration, error) {
	v, err := s.Version(ctx)
	if err != nil {
		return nil, err
	}
	if v >= len(s.migrations) {
		return nil, nil
	}
	return slices.Clone(s.migrations[v:]), nil
}

// Migrate applies the pending migrations, each in its own transaction
// together with its schema_migrations row, so a failure leaves the
// database at the last good version. Hubs migrating the same PostgreSQL
// database at once are serialised by an advisory lock; SQLite's
// transactions are already exclusive.
func (s *Store) Migrate(ctx context.Context) error {
	for _, m := range s.migrations {
		applied, err := s.apply(ctx, m)
		if err != nil {
			return fmt.Errorf("apply migration %04d_%s: %w", m.Version, m.Name, err)
		}
		if applied {
			s.log.InfoContext(ctx, "applied database migration", "version", m.Version, "name", m.Name, "dialect", s.dialect)
		}
	}
	return nil
}

// migrationLock is the PostgreSQL advisory lock key of Migrate ("hpcg").
const migrationLock = 0x68706367

func (s *Store) apply(ctx context.Context, m Migration) (bool, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	ddl := "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
	if s.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
			return false, err
		}
		ddl = "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
	}
	if _, err := tx.ExecContext(ctx, ddl); err != nil {
		return false, err
	}
	var n int
	if err := tx.GetContext(ctx, &n, s.q("SELECT COUNT(*) FROM schema_migrations WHERE version = ?"), m.Version); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, s.q("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
		m.Version, m.Name, ts(s.now())); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// Backup copies a SQLite database, consistently and while in use, to
// <file>.bak-<UTC time> (mode 0600) and returns that path. For PostgreSQL
// it returns ErrBackupUnsupported.
func (s *Store) Backup(ctx context.Context) (string, error) {
	if s.dialect != SQLite {
		return "", ErrBackupUnsupported
	}
	dst := s.path + ".bak-" + s.now().UTC().Format("20060102T150405Z")
	if _, err := os.Stat(dst); err == nil {
		return "", fmt.Errorf("back up database: %s already exists", dst)
	}
	if _, err := s.db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return "", fmt.Errorf("back up database to %s: %w", dst, err)
	}
	if err := os.Chmod(dst, 0o600); err != nil {
		return "", fmt.Errorf("back up database: %w", err)
	}
	return dst, nil
}

// Upgrade is `hpcgate upgrade-db`: when migrations are pending it backs up
// a SQLite database that already holds a schema, then migrates. It returns
// the backup's path ("" when none was made) and the migrations applied.
func (s *Store) Upgrade(ctx context.Context) (backup string, applied []Migration, err error) {
	pending, err := s.Pending(ctx)
	if err != nil || len(pending) == 0 {
		return "", nil, err
	}
	v, err := s.Version(ctx)
	if err != nil {
		return "", nil, err
	}
	if s.dialect == SQLite && v > 0 {
		if backup, err = s.Backup(ctx); err != nil {
			return "", nil, err
		}
	}
	if err := s.Migrate(ctx); err != nil {
		return backup, nil, err
	}
	return backup, pending, nil
}
