package gateway

import (
	"time"

	"hpcgate/gateway/config"
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
	State            ServerState
	JobID, JobName   string
	Node             string
	Reason           string // the scheduler's reason while queued; the failure otherwise
	Resources        config.Resources
	Submitted        time.Time
	Started          time.Time // the job started running
	Ready            time.Time
	Stopped          time.Time
	LastActivity     time.Time
	EstimatedStart   time.Time
	URL              string // /user/<name>/ (with base URL)
	ProgressURL      string
}

// Active reports whether the server holds or waits for a job.
func (s *ServerInfo) Active() bool { return s.State.Active() }

// Pending is JupyterHub's server model "pending" field (ServerState.Pending).
func (s *ServerInfo) Pending() string { return s.State.Pending() }

// WalltimeLeft is the time until the scheduler ends the running job.
func (s *ServerInfo) WalltimeLeft(now time.Time) time.Duration {
	if s.Started.IsZero() || s.Resources.Walltime == 0 {
		return 0
	}
	left := s.Started.Add(s.Resources.Walltime).Sub(now)
	if left < 0 {
		return 0
	}
	return left
}
