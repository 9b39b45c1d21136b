package gateway

import (
	"time"
)

// Server states, persisted in the store. The happy path is
// submitting → queued → starting → ready → stopping → stopped; failed
// carries a reason a person can act on.
const (
	StateSubmitting = "submitting" // the hub is running sbatch/qsub
	StateQueued     = "queued"     // the job waits in the queue
	StateStarting   = "starting"   // the job runs; the app is not answering yet
	StateReady      = "ready"      // a request through the tunnel succeeded
	StateStopping   = "stopping"   // cancel sent; waiting for the job to leave
	StateStopped    = "stopped"    // ended normally, by the user, the culler or walltime
	StateFailed     = "failed"     // could not be submitted, or ended in error
)

// SpawnRequest asks for a user's server.
type SpawnRequest struct {
	User    string // owner
	Server  string // server name, "" for the default server
	Cluster string // "" for the first cluster
	Profile string // "" for the first profile the user may use
	// Options are the raw form or API values (partition, account, cores,
	// memory, gpus, walltime), validated against the profile.
	Options map[string]string
	Groups  []string // the owner's directory groups (profiles may be restricted)
	By      string   // who asked: the owner, or an admin
}

// ServerInfo is a server as pages and APIs show it.
type ServerInfo struct {
	User, Name       string
	Cluster, Profile string
	State            string
	JobID, JobName   string
	Node             string
	// Host and Port are where the app listens on the node, once known;
	// the proxy reaches them through the cluster's login node.
	Host           string
	Port           int
	Reason         string // the scheduler's reason while queued; the failure otherwise
	Options        map[string]string
	Walltime       time.Duration
	Submitted      time.Time
	Started        time.Time // the job started running
	Ready          time.Time
	Stopped        time.Time
	LastActivity   time.Time
	EstimatedStart time.Time
	URL            string // /user/<name>/ (with base URL)
	ProgressURL    string
}

// Active reports whether the server holds or waits for a job.
func (s *ServerInfo) Active() bool {
	switch s.State {
	case StateSubmitting, StateQueued, StateStarting, StateReady, StateStopping:
		return true
	}
	return false
}

// Pending is JupyterHub's server model "pending" field: "spawn" while
// starting, "stop" while stopping, "" otherwise.
func (s *ServerInfo) Pending() string {
	switch s.State {
	case StateSubmitting, StateQueued, StateStarting:
		return "spawn"
	case StateStopping:
		return "stop"
	}
	return ""
}

// WalltimeLeft is the time until the scheduler ends the running job.
func (s *ServerInfo) WalltimeLeft(now time.Time) time.Duration {
	if s.Started.IsZero() || s.Walltime == 0 {
		return 0
	}
	left := s.Started.Add(s.Walltime).Sub(now)
	if left < 0 {
		return 0
	}
	return left
}
