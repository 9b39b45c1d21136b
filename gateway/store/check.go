package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
)

// CheckPostgres connects to a PostgreSQL database_url and pings it, for
// `hpcgate check-config -connect`: a wrong host, password or database name
// shows before the hub is started. Unlike Open it changes nothing (a new
// database is not migrated), and a SQLite URL is not its business (nil).
func CheckPostgres(ctx context.Context, url string) error {
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return nil
	}
	db, err := sqlx.Open("postgres", url)
	if err != nil {
		return fmt.Errorf("open database %s: %w", redact(url), err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("connect to database %s: %w", redact(url), err)
	}
	return nil
}
