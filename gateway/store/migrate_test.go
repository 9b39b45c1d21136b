package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"hpcgate/gateway"
)

func testMigrateFromEmpty(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.open(t, OpenOptions{})
	closeOnCleanup(t, s)
	if s.Latest() == 0 || s.Latest() != len(embedded[s.Dialect()]) {
		t.Fatalf("Latest() = %d, want %d", s.Latest(), len(embedded[s.Dialect()]))
	}
	if v := must(s.Version(ctx))(t); v != s.Latest() {
		t.Errorf("new database migrated to version %d, want %d", v, s.Latest())
	}
	if p := must(s.Pending(ctx))(t); len(p) != 0 {
		t.Errorf("Pending on an up-to-date database = %v, want none", p)
	}
	tables := must(s.tables(ctx))(t)
	for _, want := range []string{"schema_migrations", "users", "servers", "api_tokens", "sessions", "oauth_codes", "events"} {
		if !slices.Contains(tables, want) {
			t.Errorf("table %s missing; have %v", want, tables)
		}
	}
	type applied struct {
		Version int    `db:"version"`
		Name    string `db:"name"`
		At      tstamp `db:"applied_at"`
	}
	var rows []applied
	if err := s.db.Select(&rows, "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"); err != nil {
		t.Fatal(err)
	}
	if len(rows) != s.Latest() {
		t.Fatalf("schema_migrations has %d rows, want %d", len(rows), s.Latest())
	}
	for i, r := range rows {
		if m := s.migrations[i]; r.Version != m.Version || r.Name != m.Name {
			t.Errorf("schema_migrations row %d = %d %s, want %d %s", i, r.Version, r.Name, m.Version, m.Name)
		}
		sameTime(t, "applied_at", r.At.Time(), e.clock.Now())
	}
	if s.Dialect() == Postgres {
		var schema string
		if err := s.db.Get(&schema, "SELECT current_schema()"); err != nil || !strings.HasPrefix(schema, "test_") {
			t.Errorf("current schema %q, %v: the test should have a schema of its own", schema, err)
		}
	}
	if s.Dialect() == SQLite {
		var mode string
		if err := s.db.Get(&mode, "PRAGMA journal_mode"); err != nil || mode != "wal" {
			t.Errorf("journal_mode = %q, %v; want wal", mode, err)
		}
		var fk int
		if err := s.rdb.Get(&fk, "PRAGMA foreign_keys"); err != nil || fk != 1 {
			t.Errorf("reader foreign_keys = %d, %v; want 1", fk, err)
		}
		st, err := os.Stat(s.Path())
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("database file mode = %v, %v; want 0600", st.Mode().Perm(), err)
		}
	}
	// Opening again applies nothing.
	s.Close()
	e.clock.Advance(time.Hour)
	s2 := e.open(t, OpenOptions{})
	defer s2.Close()
	var n int
	if err := s2.db.Get(&n, "SELECT COUNT(*) FROM schema_migrations"); err != nil || n != s2.Latest() {
		t.Errorf("after reopening, schema_migrations has %d rows (%v), want %d", n, err, s2.Latest())
	}
}

// raw opens the test's database without the store.
func (e *env) raw(t *testing.T) *sqlx.DB {
	t.Helper()
	driver, dsn := "postgres", e.url
	if path, ok := strings.CutPrefix(e.url, "sqlite://"); ok {
		driver, dsn = "sqlite", path
	}
	db, err := sqlx.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func testRefuseForeign(t *testing.T, e *env) {
	db := e.raw(t)
	if _, err := db.Exec("CREATE TABLE payroll (name TEXT)"); err != nil {
		t.Fatal(err)
	}
	s, err := e.openErr(OpenOptions{}, embedded)
	if err == nil {
		s.Close()
		t.Fatal("Open of a database with foreign tables succeeded")
	}
	if !strings.Contains(err.Error(), "not an hpcgate database") || !strings.Contains(err.Error(), "payroll") {
		t.Errorf("error %q should say it is not an hpcgate database and name the table", err)
	}
	var n int
	if err := db.Get(&n, "SELECT COUNT(*) FROM payroll"); err != nil {
		t.Errorf("foreign table damaged: %v", err)
	}
	if err := db.Get(&n, "SELECT COUNT(*) FROM users"); err == nil {
		t.Error("Open wrote its schema into a foreign database")
	}
}

// withExtra is the embedded migrations plus one more, as a newer hpcgate
// would carry.
func withExtra() map[string][]Migration {
	next := map[string][]Migration{}
	for d, ms := range embedded {
		next[d] = append(slices.Clone(ms), Migration{Version: len(ms) + 1, Name: "test_extra",
			sql: "CREATE TABLE test_extra (x INTEGER NOT NULL); INSERT INTO test_extra (x) VALUES (42);"})
	}
	return next
}

func testPendingMigrations(t *testing.T, e *env) {
	ctx := context.Background()
	old := e.open(t, OpenOptions{})
	have := old.Latest()
	if _, err := old.UpsertUser(ctx, gateway.User{Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	old.Close()

	next := withExtra()
	s, err := e.openErr(OpenOptions{}, next)
	if err == nil {
		s.Close()
		t.Fatal("Open with a pending migration succeeded")
	}
	wantErr(t, "Open with a pending migration", err, ErrMigrationsPending)
	var pe *PendingError
	if !errors.As(err, &pe) || pe.Have != have || pe.Want != have+1 {
		t.Errorf("error %#v: want PendingError{%d, %d}", err, have, have+1)
	}
	msg := fmt.Sprintf("database schema is at version %d, this hpcgate needs %d: run `hpcgate upgrade-db`", have, have+1)
	if err.Error() != msg {
		t.Errorf("error = %q, want %q", err, msg)
	}

	s, err = e.openErr(OpenOptions{NoMigrate: true}, next)
	if err != nil {
		t.Fatalf("Open with NoMigrate: %v", err)
	}
	defer s.Close()
	p := must(s.Pending(ctx))(t)
	if len(p) != 1 || p[0].Version != have+1 || p[0].Name != "test_extra" {
		t.Fatalf("Pending = %+v, want [%d test_extra]", p, have+1)
	}
	backup, applied, err := s.Upgrade(ctx)
	if err != nil {
		t.Fatalf("Upgrade: %v", err)
	}
	if len(applied) != 1 || applied[0].Name != "test_extra" {
		t.Errorf("Upgrade applied %+v, want test_extra", applied)
	}
	if s.Dialect() == SQLite {
		if backup == "" {
			t.Fatal("Upgrade of SQLite made no backup")
		}
		b, err := openWith(ctx, "sqlite://"+backup, OpenOptions{}, embedded)
		if err != nil {
			t.Fatalf("open backup: %v", err)
		}
		if v := must(b.Version(ctx))(t); v != have {
			t.Errorf("backup at version %d, want %d", v, have)
		}
		if _, err := b.GetUser(ctx, "bob"); err != nil {
			t.Errorf("backup lost user bob: %v", err)
		}
		b.Close()
	} else if backup != "" {
		t.Errorf("Upgrade of PostgreSQL made backup %q", backup)
	}
	var x int
	if err := s.db.Get(&x, "SELECT x FROM test_extra"); err != nil || x != 42 {
		t.Errorf("migration not applied: x = %d, %v", x, err)
	}
	if v := must(s.Version(ctx))(t); v != have+1 {
		t.Errorf("version after Upgrade = %d, want %d", v, have+1)
	}
	if b, a, err := s.Upgrade(ctx); b != "" || a != nil || err != nil {
		t.Errorf("second Upgrade = %q, %v, %v; want nothing to do", b, a, err)
	}
	if _, err := s.GetUser(ctx, "bob"); err != nil {
		t.Errorf("Upgrade lost user bob: %v", err)
	}
	s.Close()

	s, err = e.openErr(OpenOptions{}, next)
	if err != nil {
		t.Fatalf("Open after Upgrade: %v", err)
	}
	s.Close()
	// The older binary must not run on the newer schema.
	s, err = e.openErr(OpenOptions{NoMigrate: true}, embedded)
	if err == nil {
		s.Close()
		t.Fatal("an older hpcgate opened a newer schema")
	}
	if !strings.Contains(err.Error(), "newer than this hpcgate") {
		t.Errorf("error %q should say the schema is newer", err)
	}
}

func testBackup(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t)
	if s.Dialect() != SQLite {
		_, err := s.Backup(ctx)
		wantErr(t, "Backup of PostgreSQL", err, ErrBackupUnsupported)
		return
	}
	path := must(s.Backup(ctx))(t)
	if want := s.Path() + ".bak-20250314T092653Z"; path != want {
		t.Errorf("backup path = %s, want %s", path, want)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	if _, err := s.Backup(ctx); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second backup in the same second: got %v, want 'already exists'", err)
	}
	e.clock.Advance(time.Second)
	if _, err := s.Backup(ctx); err != nil {
		t.Errorf("backup a second later: %v", err)
	}
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("open backup: %v", err)
	}
	defer b.Close()
	if u, err := b.GetUser(ctx, "alice"); err != nil || u.Groups[0] != "hpcusers" {
		t.Errorf("backup: alice = %+v, %v", u, err)
	}
}
