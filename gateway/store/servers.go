package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"hpcgate/gateway"
)

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

func (r *serverRow) server() (*gateway.Server, error) {
	walltime := time.Duration(r.Walltime) * time.Second
	sv := &gateway.Server{ID: r.ID, User: r.User, Name: r.Name, Cluster: r.Cluster, Profile: r.Profile,
		State: gateway.ServerState(r.State), JobID: r.JobID, JobName: r.JobName, Host: r.Host, Port: r.Port,
		Node: r.Node, SchedState: r.SchedState, Reason: r.Reason,
		EstimatedStart: r.EstimatedStart.Time(),
		Submitted:      r.Submitted.Time(), Started: r.Started.Time(), Ready: r.Ready.Time(),
		Stopped: r.Stopped.Time(), LastActivity: r.LastActivity.Time(), TokenID: r.TokenID.Int64,
		Created: r.Created.Time(), Updated: r.Updated.Time()}
	if r.ExitCode.Valid {
		c := int(r.ExitCode.Int64)
		sv.ExitCode = &c
	}
	res, err := decodeResources(r.Options)
	if err != nil {
		return nil, fmt.Errorf("server %d: options: %w", r.ID, err)
	}
	res.Walltime = walltime
	sv.Resources = res
	return sv, nil
}

// StartServer records a new spawn in state submitting: it creates the
// user's server row, or resets the row of a stopped or failed one (whose
// old API tokens are deleted with it). It returns gateway.ErrConflict when the
// server is active or the job name is taken, and gateway.ErrNotFound when the user
// does not exist.
func (s *Store) StartServer(ctx context.Context, sp gateway.NewServer) (*gateway.Server, error) {
	if sp.User == "" || sp.JobName == "" {
		return nil, errors.New("start server: user and job name are required")
	}
	opts, err := encodeResources(sp.Resources)
	if err != nil {
		return nil, fmt.Errorf("start server %s/%s: %w", sp.User, sp.Name, err)
	}
	sv, err := s.startServer(ctx, sp, opts)
	if err != nil {
		if isUnique(err) {
			err = fmt.Errorf("job name %q or server already taken: %w", sp.JobName, gateway.ErrConflict)
		}
		return nil, fmt.Errorf("start server %s/%s: %w", sp.User, sp.Name, err)
	}
	return sv, nil
}

func (s *Store) startServer(ctx context.Context, sp gateway.NewServer, opts string) (*gateway.Server, error) {
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
		return nil, fmt.Errorf("user %q: %w", sp.User, gateway.ErrNotFound)
	}
	now := ts(s.now())
	var cur struct {
		ID    int64  `db:"id"`
		State string `db:"state"`
	}
	err = tx.GetContext(ctx, &cur, s.q("SELECT id, state FROM servers WHERE username = ? AND name = ?"), sp.User, sp.Name)
	var r serverRow
	var reset forget
	switch {
	case errors.Is(err, sql.ErrNoRows):
		err = tx.GetContext(ctx, &r, s.q(`INSERT INTO servers
			(username, name, cluster, profile, options, state, job_name, walltime_seconds, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+serverCols),
			sp.User, sp.Name, sp.Cluster, sp.Profile, opts, gateway.StateSubmitting, sp.JobName,
			int64(sp.Resources.Walltime/time.Second), now, now)
	case err != nil:
		return nil, err
	case gateway.ServerState(cur.State).Active():
		return nil, fmt.Errorf("server is %s: %w", cur.State, gateway.ErrConflict)
	default:
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM api_tokens WHERE server_id = ?"), cur.ID); err != nil {
			return nil, err
		}
		reset = forget{creds: true} // the old server token is gone
		// The state guard matters on PostgreSQL, where a concurrent reset
		// may have committed since the SELECT.
		err = tx.GetContext(ctx, &r, s.q(`UPDATE servers SET
			cluster = ?, profile = ?, options = ?, state = ?, job_id = '', job_name = ?,
			host = '', port = 0, node = '', sched_state = '', reason = '', exit_code = NULL,
			estimated_start = NULL, walltime_seconds = ?, submitted_at = NULL, started_at = NULL,
			ready_at = NULL, stopped_at = NULL, last_activity = NULL, token_id = NULL, updated_at = ?
			WHERE id = ? AND state IN (?, ?) RETURNING `+serverCols),
			sp.Cluster, sp.Profile, opts, gateway.StateSubmitting, sp.JobName, int64(sp.Resources.Walltime/time.Second), now,
			cur.ID, gateway.StateStopped, gateway.StateFailed)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("server was started concurrently: %w", gateway.ErrConflict)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := s.commitForget(ctx, tx, reset); err != nil {
		return nil, err
	}
	return r.server()
}

var serverColsQualified = qualified("servers", serverCols)

// qualified is cols ("a, b") as "t.a AS a, t.b AS b", for a join whose
// other side has columns of the same names.
func qualified(table, cols string) string {
	var out []string
	for _, c := range strings.Split(cols, ",") {
		c = strings.TrimSpace(c)
		out = append(out, table+"."+c+" AS "+c)
	}
	return strings.Join(out, ", ")
}

// GetServer returns a user's server by name ("" for the default) or gateway.ErrNotFound.
func (s *Store) GetServer(ctx context.Context, user, name string) (*gateway.Server, error) {
	return s.getServer(ctx, fmt.Sprintf("server %s/%s", user, name), "username = ? AND name = ?", user, name)
}

// GetServerByID returns a server by id or gateway.ErrNotFound.
func (s *Store) GetServerByID(ctx context.Context, id int64) (*gateway.Server, error) {
	return s.getServer(ctx, fmt.Sprintf("server %d", id), "id = ?", id)
}

func (s *Store) getServer(ctx context.Context, what, where string, args ...any) (*gateway.Server, error) {
	var r serverRow
	err := s.rdb.GetContext(ctx, &r, s.q("SELECT "+serverCols+" FROM servers WHERE "+where), args...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", what, gateway.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", what, err)
	}
	return r.server()
}

// ListServers returns the servers matching f, by user and name.
func (s *Store) ListServers(ctx context.Context, f gateway.ServerFilter) ([]*gateway.Server, error) {
	var where []string
	var args []any
	from := "SELECT " + serverCols + " FROM servers"
	if f.User != "" {
		where, args = append(where, "username = ?"), append(args, f.User)
	}
	if f.Users != nil {
		if len(f.Users) == 0 {
			return nil, nil
		}
		users := slices.Compact(slices.Sorted(slices.Values(f.Users)))
		list, err := s.listArg(users)
		if err != nil {
			return nil, fmt.Errorf("list servers: %w", err)
		}
		if s.dialect == SQLite {
			// The page's names, each looked up in the servers'
			// (username, name) index; "username IN (json_each)" built a
			// temporary index of the names first, half again the cost.
			from = "SELECT " + serverColsQualified +
				" FROM json_each(?) page CROSS JOIN servers ON servers.username = page.value"
			args = append(args, list)
		} else {
			where, args = append(where, s.anyOf("username")), append(args, list)
		}
	}
	if f.Cluster != "" {
		where, args = append(where, "cluster = ?"), append(args, f.Cluster)
	}
	if len(f.States) > 0 {
		where, args = append(where, "state IN (?)"), append(args, f.States)
	}
	query := from
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query, args, err := s.in(query+" ORDER BY servers.username, servers.name", args...)
	if err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	var rows []serverRow
	// One text per combination of filters: prepared once.
	if err := s.selectPrepared(ctx, &rows, query, args...); err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	out := make([]*gateway.Server, 0, len(rows))
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
func (s *Store) ListActiveServers(ctx context.Context) ([]*gateway.Server, error) {
	return s.ListServers(ctx, gateway.ServerFilter{States: gateway.ActiveStates})
}

// DeleteServer removes a stopped or failed server (JupyterHub's
// DELETE …/servers/<name> with remove); gateway.ErrConflict while it is active.
func (s *Store) DeleteServer(ctx context.Context, user, name string) error {
	// Its tokens go with it (ON DELETE CASCADE).
	n, err := s.execChange(ctx, forget{creds: true}, s.q("DELETE FROM servers WHERE username = ? AND name = ? AND state IN (?, ?)"),
		user, name, gateway.StateStopped, gateway.StateFailed)
	if err != nil {
		return fmt.Errorf("delete server %s/%s: %w", user, name, err)
	}
	if n == 0 {
		if _, err := s.GetServer(ctx, user, name); err != nil {
			return err
		}
		return fmt.Errorf("delete server %s/%s: it is active: %w", user, name, gateway.ErrConflict)
	}
	return nil
}
