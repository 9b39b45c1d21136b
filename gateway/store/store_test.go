package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jmoiron/sqlx"

	"hpcgate/gateway"
)

// TestStore runs one table of tests against SQLite and against PostgreSQL,
// each test on a database of its own.
func TestStore(t *testing.T) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"migrate from empty", testMigrateFromEmpty},
		{"refuse foreign database", testRefuseForeign},
		{"pending migrations", testPendingMigrations},
		{"backup", testBackup},
		{"users", testUsers},
		{"a page of users", testUsersPage},
		{"token stores only its hash", testTokenHashOnly},
		{"token expiry and last use", testTokenExpiry},
		{"token ownership", testTokenOwnership},
		{"session revocation", testSessionRevocation},
		{"identity from memory, revocations immediate", testIdentityCache},
		{"user access and its revocation", testUserAccess},
		{"oauth code single use and expiry", testOAuthCodes},
		{"start and reset servers", testStartServer},
		{"state transitions", testStateTransitions},
		{"scheduler status and address", testSchedStatus},
		{"concurrent updates", testConcurrent},
		{"activity only moves forward", testActivity},
		{"events and pruning", testEvents},
		{"restart survival", testRestart},
		{"workshop jobs", testWorkshopJobs},
		{"hub and directory groups", testGroups},
		{"user management", testUserManagement},
	}
	backends := []struct {
		name  string
		fresh func(t *testing.T) func(t *testing.T) string
	}{
		{SQLite, freshSQLite},
		{Postgres, freshPostgres},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			newURL := b.fresh(t)
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.fn(t, &env{url: newURL(t), clock: newClock()})
				})
			}
		})
	}
}

// freshSQLite hands each test a new file in its own temporary directory.
func freshSQLite(*testing.T) func(t *testing.T) string {
	return func(t *testing.T) string {
		return "sqlite://" + filepath.Join(t.TempDir(), "hpcgate.sqlite")
	}
}

// freshPostgres makes a database for this run on the server named by
// HPCGATE_TEST_POSTGRES_URL, dropped at the end, so that runs do not
// interfere; each test gets a schema of its own in it (creating a database
// per test would take half a second each).
func freshPostgres(t *testing.T) func(t *testing.T) string {
	base := os.Getenv("HPCGATE_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("HPCGATE_TEST_POSTGRES_URL is not set; `make test` sets it (testdata/cluster/postgres.sh runs a private PostgreSQL)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	admin, err := sqlx.Open("postgres", base)
	if err != nil {
		t.Fatalf("HPCGATE_TEST_POSTGRES_URL: %v", err)
	}
	t.Cleanup(func() { admin.Close() })
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("PostgreSQL at HPCGATE_TEST_POSTGRES_URL=%s is not reachable: %v", redact(base), err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "hpcgate_t_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("HPCGATE_TEST_POSTGRES_URL: %v", err)
	}
	u.Path = "/" + name
	db, err := sqlx.Open("postgres", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	n := 0
	return func(t *testing.T) string {
		n++
		schema := fmt.Sprintf("test_%d", n)
		if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
			t.Fatalf("create test schema: %v", err)
		}
		v := *u
		q := v.Query()
		q.Set("search_path", schema) // lib/pq sends unknown keys as run-time parameters
		v.RawQuery = q.Encode()
		return v.String()
	}
}

// env is one test's database and clock.
type env struct {
	url   string
	clock *clock
}

// open opens the test's database with the test clock and closes it when
// the test ends (Close twice is harmless for the tests that close early).
func (e *env) open(t *testing.T, o OpenOptions) *Store {
	t.Helper()
	s, err := e.openErr(o, embedded)
	if err != nil {
		t.Fatalf("open %s: %v", redact(e.url), err)
	}
	return s
}

func (e *env) openErr(o OpenOptions, migs map[string][]Migration) (*Store, error) {
	if o.Now == nil {
		o.Now = e.clock.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return openWith(context.Background(), e.url, o, migs)
}

func closeOnCleanup(t *testing.T, s *Store) {
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { s.Close() }) })
}

// store opens the database, ready for use, with user alice.
func (e *env) store(t *testing.T) *Store {
	t.Helper()
	s := e.open(t, OpenOptions{})
	closeOnCleanup(t, s)
	if _, err := s.UpsertUser(context.Background(), gateway.User{Name: "alice", Groups: []string{"hpcusers"}}); err != nil {
		t.Fatal(err)
	}
	return s
}

// clock is a settable test clock, starting at a time with a fraction of
// a second that the store must keep (to the microsecond).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// dump returns every value of every row of every table, as text.
func dump(t *testing.T, s *Store) string {
	t.Helper()
	ctx := context.Background()
	tables, err := s.tables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, table := range tables {
		rows, err := s.db.QueryxContext(ctx, "SELECT * FROM "+table)
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		for rows.Next() {
			vals, err := rows.SliceScan()
			if err != nil {
				t.Fatalf("dump %s: %v", table, err)
			}
			fmt.Fprintf(&b, "%s:", table)
			for _, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, " %v", v)
			}
			b.WriteByte('\n')
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		rows.Close()
	}
	return b.String()
}

// wantErr fails unless err wraps target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// must(f())(t) is f's value, or a fatal error.
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// sameTime fails unless got equals want as the store keeps times.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(utc(want)) || got.Location() != time.UTC {
		t.Errorf("%s = %v, want %v (UTC)", what, got, utc(want))
	}
}

func TestMigrationsMatchAcrossDialects(t *testing.T) {
	lite, pg := embedded[SQLite], embedded[Postgres]
	if len(lite) == 0 || len(lite) != len(pg) {
		t.Fatalf("sqlite has %d migrations, postgres %d", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].Version != pg[i].Version || lite[i].Name != pg[i].Name {
			t.Errorf("migration %d: sqlite %04d_%s, postgres %04d_%s", i, lite[i].Version, lite[i].Name, pg[i].Version, pg[i].Name)
		}
	}
}

func TestLoadMigrationsRejectsGaps(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0001_a.sql": {Data: []byte("SELECT 1;")},
		"m/0003_c.sql": {Data: []byte("SELECT 3;")},
	}
	_, err := loadMigrations(fsys, "m")
	if err == nil || !strings.Contains(err.Error(), "0002_") {
		t.Errorf("loadMigrations with a gap: got %v, want an error naming 0002_", err)
	}
}

func TestOpenBadURL(t *testing.T) {
	for _, u := range []string{"mysql://x/y", "sqlite:///tmp/x.sqlite?mode=ro", "sqlite://"} {
		if s, err := Open(context.Background(), u); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", u)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://hub:s3cret@db:5432/hub": "postgres://hub:xxxxx@db:5432/hub",
		"postgres://postgres@127.0.0.1/x":   "postgres://postgres@127.0.0.1/x",
		"/var/lib/hpcgate/hub.sqlite":       "/var/lib/hpcgate/hub.sqlite",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
