package gateway

import (
	"context"
	"time"
)

// Event is one line of history: a spawn, a state change, a failure, a
// cancel, a token made. Server rows are reused by each spawn, so this is
// where past jobs are remembered.
type Event struct {
	ID      int64
	Time    time.Time // zero: now
	User    string
	Server  string
	Cluster string
	JobID   string
	Kind    string // short and stable: "spawn", "running", "failed", "stop", …
	Message string // for people
	Data    map[string]any
}

// EventFilter selects events; zero fields match everything.
type EventFilter struct {
	User   string
	Server *string // nil: any server; "" is the default server
	Kind   string  // "": any kind
	Since  time.Time
	Limit  int // newest Limit events; 0 means 100
}

// EventStore keeps the history.
type EventStore interface {
	AddEvent(ctx context.Context, e Event) (int64, error)
	// ListEvents returns the newest events matching f, newest first.
	ListEvents(ctx context.Context, f EventFilter) ([]*Event, error)
	PruneEvents(ctx context.Context, before time.Time) (int64, error)
}
