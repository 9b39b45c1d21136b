package gateway

import (
	"context"
	"fmt"
	"slices"
)

// ServerState is where a server is in its life. The happy path is
// submitting → queued → starting → ready → stopping → stopped; failed
// carries a reason a person can act on. The store persists the word.
type ServerState string

// The states.
const (
	StateSubmitting ServerState = "submitting" // the hub is running sbatch/qsub
	StateQueued     ServerState = "queued"     // the job waits in the queue
	StateStarting   ServerState = "starting"   // the job runs; the app is not answering yet
	StateReady      ServerState = "ready"      // a request through the tunnel succeeded
	StateStopping   ServerState = "stopping"   // cancel sent; waiting for the job to leave
	StateStopped    ServerState = "stopped"    // ended normally, by the user, the culler or walltime
	StateFailed     ServerState = "failed"     // could not be submitted, or ended in error
)

// States are all the states, in the order of a server's life.
var States = []ServerState{StateSubmitting, StateQueued, StateStarting, StateReady, StateStopping, StateStopped, StateFailed}

// ActiveStates hold or wait for a job; the hub re-adopts them on start.
var ActiveStates = []ServerState{StateSubmitting, StateQueued, StateStarting, StateReady, StateStopping}

// stateInfo is everything shown of a state, in one table.
var stateInfo = map[ServerState]struct {
	label    string
	progress int // the progress bar's fill; a queue wait has no honest one, so these are steps
}{
	StateSubmitting: {"Submitting", 10},
	StateQueued:     {"Queued", 30},
	StateStarting:   {"Starting", 70},
	StateReady:      {"Running", 100},
	StateStopping:   {"Stopping", 90},
	StateStopped:    {"Stopped", 100},
	StateFailed:     {"Failed", 100},
}

// Valid reports whether st is one of the states.
func (st ServerState) Valid() bool { _, ok := stateInfo[st]; return ok }

// Active reports whether st holds or waits for a job.
func (st ServerState) Active() bool { return slices.Contains(ActiveStates, st) }

// Label is the word pages show for st.
func (st ServerState) Label() string {
	if i, ok := stateInfo[st]; ok {
		return i.label
	}
	return string(st)
}

// Progress is st's percentage in JupyterHub's progress events and on the
// spawn-pending page's bar.
func (st ServerState) Progress() int { return stateInfo[st].progress }

// Pending is JupyterHub's server model "pending" field: "spawn" while
// starting, "stop" while stopping, "" otherwise.
func (st ServerState) Pending() string {
	switch st {
	case StateSubmitting, StateQueued, StateStarting:
		return "spawn"
	case StateStopping:
		return "stop"
	}
	return ""
}

// transitions are the moves between states the hub makes; every change of
// a server's state goes through transition, which refuses any other. A
// state may move to itself (a new reason, a refreshed timestamp).
var transitions = map[ServerState][]ServerState{
	StateSubmitting: {StateQueued, StateStarting, StateStopping, StateStopped, StateFailed},
	StateQueued:     {StateStarting, StateStopping, StateStopped, StateFailed},
	StateStarting:   {StateReady, StateStopping, StateStopped, StateFailed},
	StateReady:      {StateStopping, StateStopped, StateFailed},
	StateStopping:   {StateStopped, StateFailed},
	StateStopped:    {}, // a new spawn starts a new row state (ServerStore.StartServer)
	StateFailed:     {},
}

// transition moves srv to state to, with reason (the scheduler's reason
// or the failure; "" clears it), if it is still in one of from, and
// reports whether it moved. With no from, the server may be in any state
// the table lets move to to; a state that stays itself (a new reason)
// must be named. A move the table does not have is refused before the
// store is asked: it is a bug, not a race. The store's guard on from makes
// concurrent writers (the poller, a user's stop, a submission) safe.
func (h *Hub) transition(ctx context.Context, srv *Server, to ServerState, reason string, from ...ServerState) (bool, error) {
	if len(from) == 0 {
		from = sources(to)
	} else if err := allowed(from, to); err != nil {
		h.log.Error("refused a state change", "user", srv.User, "job", srv.JobID, "err", err)
		return false, err
	}
	moved, err := h.servers.SetState(ctx, srv.ID, from, to, reason)
	if err != nil {
		return false, fmt.Errorf("move server %s/%s to %s: %w", srv.User, srv.Name, to, err)
	}
	return moved, nil
}

// sources are the states the table lets move to to, to itself excluded.
func sources(to ServerState) []ServerState {
	var from []ServerState
	for _, st := range States {
		if slices.Contains(transitions[st], to) {
			from = append(from, st)
		}
	}
	return from
}

// allowed reports an error if any of from may not move to to.
func allowed(from []ServerState, to ServerState) error {
	for _, f := range from {
		if f != to && !slices.Contains(transitions[f], to) {
			return fmt.Errorf("server state %s → %s is not a transition the hub makes", f, to)
		}
	}
	return nil
}
