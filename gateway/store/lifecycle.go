package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"hpcgate/gateway"
)

// A server row is changed by targeted setters rather than by writing the
// whole row back. Several writers touch the same server at once — the
// spawner records the job id, the poller the scheduler's view and the
// state, the proxy and the hub API the activity, the user a stop — and
// each owns different columns; a whole-row write would undo the others'
// changes or need a retry loop around every optimistic-version conflict.
// Each setter is one UPDATE whose WHERE clause carries its guard (the
// expected states, a job id not yet set, activity only moving forward),
// which is atomic in both databases.

// SetJobID records the scheduler's id for the job the moment the
// scheduler returns it, with the submission time. Repeating it with the
// same id is harmless; another id than the one stored is gateway.ErrConflict.
func (s *Store) SetJobID(ctx context.Context, id int64, jobID string) error {
	if jobID == "" {
		return fmt.Errorf("set job id of server %d: empty id", id)
	}
	now := ts(s.now())
	n, err := s.update(ctx, "UPDATE servers SET job_id = ?, submitted_at = COALESCE(submitted_at, ?), updated_at = ? WHERE id = ? AND job_id IN ('', ?)",
		jobID, now, now, id, jobID)
	if err != nil {
		return fmt.Errorf("set job id %s of server %d: %w", jobID, id, err)
	}
	if n == 0 {
		if err := s.serverExists(ctx, id); err != nil {
			return err
		}
		return fmt.Errorf("set job id %s of server %d: another job id is recorded: %w", jobID, id, gateway.ErrConflict)
	}
	return nil
}

// stateStamp is the timestamp column a state sets when first entered.
var stateStamp = map[gateway.ServerState]string{
	gateway.StateStarting: "started_at",
	gateway.StateReady:    "ready_at",
	gateway.StateStopped:  "stopped_at",
	gateway.StateFailed:   "stopped_at",
}

// SetState moves the server to state to, with reason (the scheduler's
// reason or the failure, "" to clear it), if and only if it is in one of
// the from states, and reports whether it did. Entering starting, ready,
// stopped or failed stamps the time, once per spawn. gateway.ErrNotFound when
// there is no such server.
func (s *Store) SetState(ctx context.Context, id int64, from []gateway.ServerState, to gateway.ServerState, reason string) (bool, error) {
	if len(from) == 0 || !to.Valid() {
		return false, fmt.Errorf("set state of server %d: bad transition %v → %q", id, from, to)
	}
	now := ts(s.now())
	set := "state = ?, reason = ?, updated_at = ?"
	args := []any{to, reason, now}
	if col, ok := stateStamp[to]; ok {
		set += ", " + col + " = COALESCE(" + col + ", ?)"
		args = append(args, now)
	}
	query, args, err := s.in("UPDATE servers SET "+set+" WHERE id = ? AND state IN (?)", append(args, id, from)...)
	if err != nil {
		return false, fmt.Errorf("set state of server %d: %w", id, err)
	}
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return false, fmt.Errorf("set state of server %d to %s: %w", id, to, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return true, nil
	}
	return false, s.serverExists(ctx, id)
}

// SetAddress records where the app on the compute node listens.
func (s *Store) SetAddress(ctx context.Context, id int64, host string, port int) error {
	return s.set(ctx, id, "address", "host = ?, port = ?", host, port)
}

// SetTokenID records the server's API token (0 for none).
func (s *Store) SetTokenID(ctx context.Context, id, tokenID int64) error {
	return s.set(ctx, id, "token", "token_id = ?", sql.NullInt64{Int64: tokenID, Valid: tokenID != 0})
}

// SetSchedStatus records the scheduler's view of the job without changing
// the server's state (SetState does that).
func (s *Store) SetSchedStatus(ctx context.Context, id int64, st gateway.SchedStatus) error {
	set := "sched_state = ?, estimated_start = ?"
	args := []any{st.State, ts(st.EstimatedStart)}
	if st.Node != "" {
		set, args = set+", node = ?", append(args, st.Node)
	}
	if st.ExitCode != nil {
		set, args = set+", exit_code = ?", append(args, *st.ExitCode)
	}
	return s.set(ctx, id, "scheduler status", set, args...)
}

// SetActivity moves the last activity of a user's server, and of the user,
// forward to t, and reports whether the server's moved: reports arrive out
// of order and an older one must not make a busy server look idle.
func (s *Store) SetActivity(ctx context.Context, user, name string, t time.Time) (bool, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("record activity of %s/%s: %w", user, name, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.q(`UPDATE servers SET last_activity = ?
		WHERE username = ? AND name = ? AND (last_activity IS NULL OR last_activity < ?)`), ts(t), user, name, ts(t))
	if err != nil {
		return false, fmt.Errorf("record activity of %s/%s: %w", user, name, err)
	}
	moved, _ := res.RowsAffected()
	if moved == 0 {
		var n int
		if err := tx.GetContext(ctx, &n, s.q("SELECT COUNT(*) FROM servers WHERE username = ? AND name = ?"), user, name); err != nil {
			return false, fmt.Errorf("record activity of %s/%s: %w", user, name, err)
		}
		if n == 0 {
			return false, fmt.Errorf("server %s/%s: %w", user, name, gateway.ErrNotFound)
		}
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE users SET last_activity = ?
		WHERE name = ? AND (last_activity IS NULL OR last_activity < ?)`), ts(t), user, ts(t)); err != nil {
		return false, fmt.Errorf("record activity of %s: %w", user, err)
	}
	// The user's last_activity moved.
	if err := s.commitForget(ctx, tx, forget{users: []string{user}}); err != nil {
		return false, fmt.Errorf("record activity of %s/%s: %w", user, name, err)
	}
	return true, nil
}

// set runs "UPDATE servers SET <set>, updated_at = now WHERE id = ?".
func (s *Store) set(ctx context.Context, id int64, what, set string, args ...any) error {
	n, err := s.update(ctx, "UPDATE servers SET "+set+", updated_at = ? WHERE id = ?", append(args, ts(s.now()), id)...)
	if err != nil {
		return fmt.Errorf("set %s of server %d: %w", what, id, err)
	}
	if n == 0 {
		return s.serverExists(ctx, id)
	}
	return nil
}

func (s *Store) update(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// serverExists is nil when server id exists and gateway.ErrNotFound when not.
func (s *Store) serverExists(ctx context.Context, id int64) error {
	var n int
	if err := s.db.GetContext(ctx, &n, s.q("SELECT COUNT(*) FROM servers WHERE id = ?"), id); err != nil {
		return fmt.Errorf("look up server %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("server %d: %w", id, gateway.ErrNotFound)
	}
	return nil
}
