package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"hpcgate/gateway"
)

type eventRow struct {
	ID      int64  `db:"id"`
	Time    tstamp `db:"time"`
	User    string `db:"username"`
	Server  string `db:"server"`
	Cluster string `db:"cluster"`
	JobID   string `db:"job_id"`
	Kind    string `db:"kind"`
	Message string `db:"message"`
	Data    string `db:"data"`
}

const eventCols = "id, time, username, server, cluster, job_id, kind, message, data"

// AddEvent records e and returns its id.
func (s *Store) AddEvent(ctx context.Context, e gateway.Event) (int64, error) {
	if e.Kind == "" {
		return 0, errors.New("add event: empty kind")
	}
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	data, err := marshal(e.Data, "{}")
	if err != nil {
		return 0, fmt.Errorf("add event %s: %w", e.Kind, err)
	}
	var id int64
	err = s.db.GetContext(ctx, &id, s.q(`INSERT INTO events (time, username, server, cluster, job_id, kind, message, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		ts(e.Time), e.User, e.Server, e.Cluster, e.JobID, e.Kind, e.Message, data)
	if err != nil {
		return 0, fmt.Errorf("add event %s for %s: %w", e.Kind, e.User, err)
	}
	return id, nil
}

// ListEvents returns the newest events matching f, newest first.
func (s *Store) ListEvents(ctx context.Context, f gateway.EventFilter) ([]*gateway.Event, error) {
	var where []string
	var args []any
	if f.User != "" {
		where, args = append(where, "username = ?"), append(args, f.User)
	}
	if f.Server != nil {
		where, args = append(where, "server = ?"), append(args, *f.Server)
	}
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, f.Kind)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "time >= ?"), append(args, ts(f.Since))
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	query := "SELECT " + eventCols + " FROM events"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY time DESC, id DESC LIMIT ?"
	var rows []eventRow
	if err := s.rdb.SelectContext(ctx, &rows, s.q(query), append(args, f.Limit)...); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	out := make([]*gateway.Event, 0, len(rows))
	for _, r := range rows {
		e := &gateway.Event{ID: r.ID, Time: r.Time.Time(), User: r.User, Server: r.Server, Cluster: r.Cluster,
			JobID: r.JobID, Kind: r.Kind, Message: r.Message}
		if err := json.Unmarshal([]byte(r.Data), &e.Data); err != nil {
			return nil, fmt.Errorf("event %d: data: %w", r.ID, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// PruneEvents deletes the events older than before and returns how many.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q("DELETE FROM events WHERE time < ?"), ts(before))
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return res.RowsAffected()
}
