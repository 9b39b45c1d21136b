// Package batch is the scheduler domain: what a job is, what state it is in,
// and the small interfaces every scheduler (Slurm, PBS) and every way of
// reaching a login node (SSH) implement. Each scheduler adapter exports a
// Kind (its name, its own site options, its constructor); the table of
// them is batch/schedulers.
//
// batch never imports gateway, and the adapters under it (sshexec, slurm,
// pbs) never import each other; cmd wires them together, and only cmd
// imports batch/schedulers.
package batch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// State is a job state normalised across schedulers.
type State string

const (
	StatePending    State = "pending"    // waiting in the queue; Reason says why
	StateRunning    State = "running"    // started; Node says where
	StateCompleting State = "completing" // ended, scheduler still cleaning up
	StateCompleted  State = "completed"  // ended with exit code 0
	StateFailed     State = "failed"     // ended with a non-zero exit code or a node failure
	StateCancelled  State = "cancelled"  // cancelled by the user, an admin or the hub
	StateTimeout    State = "timeout"    // killed at the end of its walltime
	// StateUnknown: the job has left the queue and nothing records how it
	// ended. A scheduler reports it only once a second signal confirmed the
	// job is gone (History); never for a job it still lists.
	StateUnknown State = "unknown"
	// StateUnrecognised: the scheduler lists the job, in a state word this
	// adapter has no mapping for (RawState holds it). The job may well be
	// running: nothing about the server changes, and the raw word is shown.
	// Like Nomad's unknown allocation state: can't tell, so don't destroy.
	StateUnrecognised State = "unrecognised"
)

// Terminal reports whether a job in this state will never run again.
// Neither StateUnknown nor StateUnrecognised is terminal: a missing job is
// only declared gone when a second signal confirms it, and a listed one is
// never declared gone.
func (s State) Terminal() bool {
	switch s {
	case StateCompleted, StateFailed, StateCancelled, StateTimeout:
		return true
	}
	return false
}

// Active reports whether the job still holds or waits for resources.
func (s State) Active() bool {
	switch s {
	case StatePending, StateRunning, StateCompleting:
		return true
	}
	return false
}

// JobStatus is what a scheduler reports about one job.
type JobStatus struct {
	ID       string
	Name     string
	User     string
	State    State
	RawState string // the scheduler's own word: PENDING, Q, R, ...
	// Reason is the scheduler's explanation while pending (Slurm's reason,
	// PBS's comment) or why it ended.
	Reason    string
	Partition string
	Node      string // first execution host while running
	ExitCode  int    // meaningful once terminal
	Submitted time.Time
	Started   time.Time
	Ended     time.Time
	// EstimatedStart is the scheduler's estimate for a pending job; zero when
	// it has none.
	EstimatedStart time.Time
	TimeLimit      time.Duration // zero when unlimited or unknown
	Cores          int
}

// Command is one remote command, run on the login node.
type Command struct {
	// User is the account the command runs as. Empty means the hub's own
	// service identity (for read-only queries that cover every user).
	User  string
	Argv  []string
	Stdin []byte
}

func (c Command) String() string { return strings.Join(c.Argv, " ") }

// Executor runs commands on a cluster's login node. sshexec implements it over
// one pooled SSH connection; tests may run commands locally.
type Executor interface {
	Run(ctx context.Context, cmd Command) (stdout []byte, err error)
}

// CommandError is a remote command that ran and exited non-zero. Stderr holds
// the scheduler's own words, which users are shown.
type CommandError struct {
	Argv     []string
	ExitCode int
	Stderr   string
}

func (e *CommandError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = "no output"
	}
	name := "command"
	if len(e.Argv) > 0 {
		name = e.Argv[0]
	}
	return fmt.Sprintf("%s: exit %d: %s", name, e.ExitCode, msg)
}

// ExitCode returns the exit code of a CommandError in err's chain, or -1.
func ExitCode(err error) int {
	var ce *CommandError
	if errors.As(err, &ce) {
		return ce.ExitCode
	}
	return -1
}

// ErrNotFound is returned for a job the scheduler does not know.
var ErrNotFound = errors.New("job not found")

// Scheduler submits, follows and cancels jobs. Implementations hold no
// business logic: they translate to one scheduler's commands and parse its
// output, and they return an error rather than partial data.
type Scheduler interface {
	// Kind is the name the scheduler is registered under (its
	// batch.Kind's Name: "slurm", "pbs").
	Kind() string
	// Submit renders spec's script and submits it as spec.User; it returns the
	// job id the scheduler assigned.
	Submit(ctx context.Context, spec JobSpec) (id string, err error)
	// Status reports on every id in ONE remote command. Ids the scheduler no
	// longer reports are absent from the map; a failed query is an error,
	// never a state.
	Status(ctx context.Context, ids []string) (map[string]JobStatus, error)
	// Cancel cancels id as user. Cancelling a job that already ended is not
	// an error.
	Cancel(ctx context.Context, user, id string) error
}

// History is an optional capability: the final state of jobs that have left
// the queue (sacct, qstat -x). It is the second signal that confirms a job
// missing from Status has ended.
type History interface {
	History(ctx context.Context, ids []string) (map[string]JobStatus, error)
}

// StartEstimator is an optional capability: the scheduler's estimated start
// time of pending jobs.
type StartEstimator interface {
	EstimateStart(ctx context.Context, ids []string) (map[string]time.Time, error)
}

// Lister is an optional capability: the user's jobs whose name starts with
// prefix, so the hub can adopt a job whose id it failed to record.
type Lister interface {
	ListByName(ctx context.Context, user, prefix string) ([]JobStatus, error)
}

// QueueReader is an optional capability: every job in the queue, of every
// user, in one command (for the sysadmin's queue view).
type QueueReader interface {
	Queue(ctx context.Context) ([]JobStatus, error)
}

// Releaser is an optional capability: release a job held at submission.
type Releaser interface {
	Release(ctx context.Context, user, id string) error
}

// Clip bounds hostile text (a job name, a reason, a record) before it goes
// into an error or a log line: quoted, so control characters are visible,
// and cut to 48 bytes with the full length said.
func Clip(s string) string {
	const n = 48
	if len(s) > n {
		return fmt.Sprintf("%q… (%d bytes)", s[:n], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// JobIDs returns ids without repeats, in their order, or an error naming
// the first one that is not a job id of scheduler (valid decides): every
// adapter checks the ids it puts on a command line this way.
func JobIDs(ids []string, valid func(string) bool, scheduler string) ([]string, error) {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !valid(id) {
			return nil, fmt.Errorf("%q is not a %s job id", id, scheduler)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}
