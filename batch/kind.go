package batch

import (
	"io/fs"
	"log/slog"
	"time"
)

// Kind is one scheduler hpcgate can drive. Each adapter exports one
// (slurm.Kind, pbs.Kind); the table in batch/schedulers lists them, and
// both config validation (check-config) and serve read that table, so a
// new scheduler is one package and one line there.
type Kind struct {
	// Name is what a cluster's scheduler: key says ("slurm").
	Name string
	// Options returns a new value of the settings only this scheduler
	// takes, with its defaults filled in: a pointer to a struct whose
	// yaml-tagged fields (string, bool, int, and lists or maps of those)
	// are the keys of a cluster's scheduler_options: block. The site file
	// decodes strictly over it (an unknown key is an error with file and
	// line); if the value is an OptionsValidator it is then validated.
	// nil for a scheduler that takes no options: a scheduler_options
	// block is then an error.
	Options func() any
	// New builds the scheduler for one cluster, running its commands with
	// exec. site.Options is what Options returned, decoded and validated
	// (nil when Options is nil).
	New func(exec Executor, site Site) (Scheduler, error)
}

// Site is what an adapter is told about the cluster it serves, all of it
// from the site file: adapters read no files or environment themselves.
type Site struct {
	// BinDir is the directory of the scheduler's commands on the login
	// node; empty uses the PATH.
	BinDir string
	// Templates holds the job script templates (jobs/<kind>.sh.tmpl).
	Templates fs.FS
	// Location is the login node's time zone: schedulers print local times
	// without one.
	Location *time.Location
	// Options are the adapter's own settings (see Kind.Options).
	Options any
	// Logger receives what the adapter logs (records of the scheduler's
	// output it could not read). Default: slog.Default().
	Logger *slog.Logger
}

// OptionsValidator is implemented by an adapter's options that need more
// checking than their types give (a required name, a word that reaches a
// job script).
type OptionsValidator interface {
	Validate() []OptionError
}

// OptionError is one bad scheduler option. Key is its key in the cluster's
// scheduler_options block, so the site file's error names its line.
type OptionError struct {
	Key, Message string
}

func (e OptionError) Error() string { return e.Key + ": " + e.Message }

// ReasonExplainer is an optional capability: plain words for one of the
// scheduler's pending reasons ("Resources" → "waiting for free nodes"), or
// "" when it has none. Pages show the words beside the raw reason, so
// support staff still see what the scheduler said. Adapters report a job
// without a reason as "" (never the scheduler's "None"), so no caller
// needs to know a scheduler's word for nothing.
type ReasonExplainer interface {
	ExplainReason(raw string) string
}
