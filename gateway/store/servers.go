package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// State is a server's lifecycle state; the values are gateway's.
type State string

// The states. submitting → queued → starting → ready → stopping → stopped,
// or failed from anywhere.
const (
	StateSubmitting State = "submitting"
	StateQueued     State = "queued"
	StateStarting   State = "starting"
	StateReady      State = "ready"
	StateStopping   State = "stopping"
	StateStopped    State = "stopped"
	StateFailed     State = "failed"
)

// ActiveStates hold or wait for a job; the hub re-adopts them on start.
var ActiveStates = []State{StateSubmitting, StateQueued, StateStarting, StateReady, StateStopping}

// Active reports whether st holds or waits for a job.
func (st State) Active() bool { return slices.Contains(ActiveStates, st) }

// Valid reports whether st is one of the states.
func (st State) Valid() bool { return st.Active() || st == StateStopped || st == StateFailed }

// Server is one user's named server and its current (or last) job.
type Server struct {
	ID               int64
	User, Name       string // Name "" is the default server
	Cluster, Profile string
	Options          map[string]string // the resolved resources
	State            State
	JobID, JobName   string
	Host             string // where the app listens, once known
	Port             int
	Node             string
	SchedState       string // the scheduler's own state word
	Reason           string // the scheduler's reason while queued; the failure otherwise
	ExitCode         *int
	EstimatedStart   time.Time
	Walltime         time.Duration
	Submitted        time.Time // the scheduler accepted the job
	Started          time.Time // the hub first saw it running
	Ready            time.Time
	Stopped          time.Time
	LastActivity     time.Time
	TokenID          int64 // the server's API token; 0 for none
	Created          time.Time
	Updated          time.Time
}

type serverRow struct {
	ID             int64         `db:"id"`
	User           string        `db:"username"`
	Name           string        `db:"name"`
	Cluster        string        `db:"cluster"`
	Profile        string        `db:"profile"`
	Options        string        `db:"options"`
	State          string        `db:"state"`
	JobID          string        `db:"job_id"`
	JobName        string        `db:"job_name"`
	Host           string        `db:"host"`
	Port           int           `db:"port"`
	Node           string        `db:"node"`
	SchedState     string        `db:"sched_state"`
	Reason         string        `db:"reason"`
	ExitCode       sql.NullInt64 `db:"exit_code"`
	EstimatedStart tstamp        `db:"estimated_start"`
	Walltime       int64         `db:"walltime_seconds"`
	Submitted      tstamp        `db:"submitted_at"`
	Started        tstamp        `db:"started_at"`
	Ready          tstamp        `db:"ready_at"`
	Stopped        tstamp        `db:"stopped_at"`
	LastActivity   tstamp        `db:"last_activity"`
	TokenID        sql.NullInt64 `db:"token_id"`
	Created        tstamp        `db:"created_at"`
	Updated        tstamp        `db:"updated_at"`
}

const serverCols = `id, username, name, cluster, profile, options, state, job_id, job_name,
	host, port, node, sched_state, reason, exit_code, estimated_start, walltime_seconds,
	submitted_at, started_at, ready_at, stopped_at, last_activity, token_id, created_at, updated_at`

func (r *serverRow) server() (*Server, error) {
	sv := &Server{ID: r.ID, User: r.User, Name: r.Name, Cluster: r.Cluster, Profile: r.Profile,
		State: State(r.State), JobID: r.JobID, JobName: r.JobName, Host: r.Host, Port: r.Port,
		Node: r.Node, SchedState: r.SchedState, Reason: r.Reason,
		EstimatedStart: r.EstimatedStart.Time(), Walltime: time.Duration(r.Walltime) * time.Second,
		Submitted: r.Submitted.Time(), Started: r.Started.Time(), Ready: r.Ready.Time(),
		Stopped: r.Stopped.Time(), LastActivity: r.LastActivity.Time(), TokenID: r.TokenID.Int64,
		Created: r.Created.Time(), Updated: r.Updated.Time()}
	if r.ExitCode.Valid {
		c := int(r.ExitCode.Int64)
		sv.ExitCode = &c
	}
	if err := json.Unmarshal([]byte(r.Options), &sv.Options); err != nil {
		return nil, fmt.Errorf("server %d: options: %w", r.ID, err)
	}
	return sv, nil
}

// Spawn is what a new spawn records before anything is submitted.
type Spawn struct {
	User, Name       string
	Cluster, Profile string
	Options          map[string]string
	Walltime         time.Duration
	// JobName must be unique across all spawns ever
	// (hpcgate-<user>-<server>-<nonce>): the hub finds a job by it when
	// the write of its id was lost.
	JobName string
}

// StartServer records a new spawn in state submitting: it creates the
// user's server row, or resets the row of a stopped or failed one (whose
// old API tokens are deleted with it). It returns ErrConflict when the
// server is active or the job name is taken, and ErrNotFound when the user
// does not exist.
func (s *Store) StartServer(ctx context.Context, sp Spawn) (*Server, error) {
	if sp.User == "" || sp.JobName == "" {
		return nil, errors.New("start server: user and job name are required")
	}
	opts, err := marshal(sp.Options, "{}")
	if err != nil {
		return nil, fmt.Errorf("start server %s/%s: %w", sp.User, sp.Name, err)
	}
	sv, err := s.startServer(ctx, sp, opts)
	if err != nil {
		if isUnique(err) {
			err = fmt.Errorf("job name %q or server already taken: %w", sp.JobName, ErrConflict)
		}
		return nil, fmt.Errorf("start server %s/%s: %w", sp.User, sp.Name, err)
	}
	return sv, nil
}

func (s *Store) startServer(ctx context.Context, sp Spawn, opts string) (*Server, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var n int
	if err := tx.GetContext(ctx, &n, s.q("SELECT COUNT(*) FROM users WHERE name = ?"), sp.User); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("user %q: %w", sp.User, ErrNotFound)
	}
	now := ts(s.now())
	var cur struct {
		ID    int64  `db:"id"`
		State string `db:"state"`
	}
	err = tx.GetContext(ctx, &cur, s.q("SELECT id, state FROM servers WHERE username = ? AND name = ?"), sp.User, sp.Name)
	var r serverRow
	switch {
	case errors.Is(err, sql.ErrNoRows):
		err = tx.GetContext(ctx, &r, s.q(`INSERT INTO servers
			(username, name, cluster, profile, options, state, job_name, walltime_seconds, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+serverCols),
			sp.User, sp.Name, sp.Cluster, sp.Profile, opts, StateSubmitting, sp.JobName,
			int64(sp.Walltime/time.Second), now, now)
	case err != nil:
		return nil, err
	case State(cur.State).Active():
		return nil, fmt.Errorf("server is %s: %w", cur.State, ErrConflict)
	default:
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM api_tokens WHERE server_id = ?"), cur.ID); err != nil {
			return nil, err
		}
		// The state guard matters on PostgreSQL, where a concurrent reset
		// may have committed since the SELECT.
		err = tx.GetContext(ctx, &r, s.q(`UPDATE servers SET
			cluster = ?, profile = ?, options = ?, state = ?, job_id = '', job_name = ?,
			host = '', port = 0, node = '', sched_state = '', reason = '', exit_code = NULL,
			estimated_start = NULL, walltime_seconds = ?, submitted_at = NULL, started_at = NULL,
			ready_at = NULL, stopped_at = NULL, last_activity = NULL, token_id = NULL, updated_at = ?
			WHERE id = ? AND state IN (?, ?) RETURNING `+serverCols),
			sp.Cluster, sp.Profile, opts, StateSubmitting, sp.JobName, int64(sp.Walltime/time.Second), now,
			cur.ID, StateStopped, StateFailed)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("server was started concurrently: %w", ErrConflict)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return r.server()
}

// GetServer returns a user's server by name ("" for the default) or ErrNotFound.
func (s *Store) GetServer(ctx context.Context, user, name string) (*Server, error) {
	return s.getServer(ctx, fmt.Sprintf("server %s/%s", user, name), "username = ? AND name = ?", user, name)
}

// GetServerByID returns a server by id or ErrNotFound.
func (s *Store) GetServerByID(ctx context.Context, id int64) (*Server, error) {
	return s.getServer(ctx, fmt.Sprintf("server %d", id), "id = ?", id)
}

func (s *Store) getServer(ctx context.Context, what, where string, args ...any) (*Server, error) {
	var r serverRow
	err := s.rdb.GetContext(ctx, &r, s.q("SELECT "+serverCols+" FROM servers WHERE "+where), args...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", what, err)
	}
	return r.server()
}

// ServerFilter selects servers; zero fields match everything.
type ServerFilter struct {
	User    string
	Cluster string
	States  []State
}

// ListServers returns the servers matching f, by user and name.
func (s *Store) ListServers(ctx context.Context, f ServerFilter) ([]*Server, error) {
	var where []string
	var args []any
	if f.User != "" {
		where, args = append(where, "username = ?"), append(args, f.User)
	}
	if f.Cluster != "" {
		where, args = append(where, "cluster = ?"), append(args, f.Cluster)
	}
	if len(f.States) > 0 {
		where, args = append(where, "state IN (?)"), append(args, f.States)
	}
	query := "SELECT " + serverCols + " FROM servers"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query, args, err := s.in(query+" ORDER BY username, name", args...)
	if err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	var rows []serverRow
	if err := s.rdb.SelectContext(ctx, &rows, query, args...); err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	out := make([]*Server, 0, len(rows))
	for i := range rows {
		sv, err := rows[i].server()
		if err != nil {
			return nil, err
		}
		out = append(out, sv)
	}
	return out, nil
}

// ListActiveServers returns every server that holds or waits for a job.
func (s *Store) ListActiveServers(ctx context.Context) ([]*Server, error) {
	return s.ListServers(ctx, ServerFilter{States: ActiveStates})
}

// DeleteServer removes a stopped or failed server (JupyterHub's
// DELETE …/servers/<name> with remove); ErrConflict while it is active.
func (s *Store) DeleteServer(ctx context.Context, user, name string) error {
	res, err := s.db.ExecContext(ctx, s.q("DELETE FROM servers WHERE username = ? AND name = ? AND state IN (?, ?)"),
		user, name, StateStopped, StateFailed)
	if err != nil {
		return fmt.Errorf("delete server %s/%s: %w", user, name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.GetServer(ctx, user, name); err != nil {
			return err
		}
		return fmt.Errorf("delete server %s/%s: it is active: %w", user, name, ErrConflict)
	}
	return nil
}
