package gateway

import (
	"context"
	"strconv"
	"time"

	"hpcgate/gateway/config"
)

// Server is one user's named server and its current (or last) job, as
// the store keeps it.
type Server struct {
	ID               int64
	User, Name       string // Name "" is the default server
	Cluster, Profile string
	Resources        config.Resources // what the spawn asked for, resolved
	State            ServerState
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

// NewServer is what a new spawn records before anything is submitted.
type NewServer struct {
	User, Name       string
	Cluster, Profile string
	Resources        config.Resources
	// JobName must be unique across all spawns ever
	// (hpcgate-<user>-<server>-<nonce>): the hub finds a job by it when
	// the write of its id was lost.
	JobName string
}

// UserOptions are r as JupyterHub's REST API shows a server's
// user_options: the spawn form's option names, with values as a form
// would give them.
func UserOptions(r config.Resources) map[string]string {
	if r.Cores == 0 && r.Walltime == 0 {
		return map[string]string{} // nothing recorded
	}
	o := map[string]string{
		"cores":    strconv.Itoa(r.Cores),
		"gpus":     strconv.Itoa(r.GPUs),
		"walltime": r.Walltime.String(),
	}
	if r.MemoryMB > 0 {
		o["memory"] = strconv.Itoa(r.MemoryMB) + "M"
	}
	if r.Partition != "" {
		o["partition"] = r.Partition
	}
	if r.Account != "" {
		o["account"] = r.Account
	}
	return o
}

// ServerFilter selects servers; zero fields match everything.
type ServerFilter struct {
	User    string
	Users   []string // any of these users (a page of the user list)
	Cluster string
	States  []ServerState
}

// SchedStatus is the scheduler's latest view of a server's job.
type SchedStatus struct {
	State          string    // the scheduler's word (PENDING, R, …)
	Node           string    // "" keeps the recorded node
	EstimatedStart time.Time // zero: no estimate
	ExitCode       *int      // nil keeps the recorded code
}

// ServerStore keeps servers. Each setter changes only its own columns, so
// the spawner, the poller, the proxy and a user's stop never undo each
// other's writes. Errors wrap ErrNotFound and ErrConflict where they say so.
type ServerStore interface {
	// StartServer records a new spawn in state submitting, creating the
	// row or resetting a stopped or failed one. ErrConflict when the
	// server is active or the job name is taken; ErrNotFound without user.
	StartServer(ctx context.Context, s NewServer) (*Server, error)
	GetServer(ctx context.Context, user, name string) (*Server, error)
	GetServerByID(ctx context.Context, id int64) (*Server, error)
	ListServers(ctx context.Context, f ServerFilter) ([]*Server, error)
	// DeleteServer removes a stopped or failed server; ErrConflict while active.
	DeleteServer(ctx context.Context, user, name string) error

	// SetJobID records the scheduler's id; another id than the one
	// stored is ErrConflict.
	SetJobID(ctx context.Context, id int64, jobID string) error
	// SetState moves the server to to if, and only if, it is in one of
	// from, and reports whether it did. Only the hub's transition calls it.
	SetState(ctx context.Context, id int64, from []ServerState, to ServerState, reason string) (bool, error)
	SetAddress(ctx context.Context, id int64, host string, port int) error
	SetTokenID(ctx context.Context, id, tokenID int64) error
	SetSchedStatus(ctx context.Context, id int64, st SchedStatus) error
	// SetActivity moves the last activity of the server and its user
	// forward to t and reports whether the server's moved.
	SetActivity(ctx context.Context, user, name string, t time.Time) (bool, error)
}
