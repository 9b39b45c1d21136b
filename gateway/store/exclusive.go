package store

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrInUse: another hub serves from this SQLite database.
var ErrInUse = errors.New("database in use by another hub")

// ClaimSQLite makes this process the only hub on a SQLite database: it
// holds an exclusive flock on <database>.lock, which says who holds it
// (pid, host, since). The kernel drops the lock when the process dies, so
// a crashed hub never blocks the next one. A second hub is refused with
// an error wrapping ErrInUse that names the file and the holder. Only
// `serve` claims: `hpcgate token` and the admin commands run beside the
// hub. The returned function releases the lock. On PostgreSQL, where
// replicas share the database, it does nothing.
func (s *Store) ClaimSQLite() (release func(), err error) {
	if s.dialect != SQLite {
		return func() {}, nil
	}
	path := s.path + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock database %s: %w", s.path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := make([]byte, 256) // what a holder writes is short; bound what is read back
		n, _ := f.ReadAt(holder, 0)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked by %s; a SQLite database has a single hub (use PostgreSQL to run two): %s",
				ErrInUse, s.path, describeHolder(string(holder[:n])), path)
		}
		return nil, fmt.Errorf("lock database %s: %w", s.path, err)
	}
	host, _ := os.Hostname()
	me := fmt.Sprintf("pid %d on host %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(me), 0)
	}
	return func() { f.Close() }, nil
}

// describeHolder is the holder's line as written by ClaimSQLite, or
// "another process" when the file holds something else.
func describeHolder(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if f := strings.Fields(line); len(f) >= 5 && f[0] == "pid" && f[3] == "host" {
		if _, err := strconv.Atoi(f[1]); err == nil {
			return "hpcgate serve (" + line + ")"
		}
	}
	return "another process"
}
