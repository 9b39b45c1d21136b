// Package slurm is the Slurm adapter: it submits, follows and cancels jobs
// with sbatch, squeue, scancel and scontrol run through a batch.Executor
// (normally the pooled SSH connection to the login node), and parses their
// output. It holds no business logic: it translates, and returns an error
// rather than partial data.
//
// It imports batch and templates only; never gateway, sshexec or a sibling
// adapter.
//
// Every query is one squeue command however many jobs it covers. Its output
// is laid out so that free text (job names, reasons) cannot leave its record
// (format.go), and a malformed record costs only itself.
package slurm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"text/template"
	"time"

	"hpcgate/batch"
	"hpcgate/templates"
)

// ScriptTemplate is the job script template's name in Options.Templates.
const ScriptTemplate = "jobs/slurm.sh.tmpl"

// scriptFuncs are the template functions of jobs/slurm.sh.tmpl beyond the
// common ones: sbatch --time reads HH:MM:SS with hours past 24.
var scriptFuncs = template.FuncMap{"walltime": batch.FormatWalltime}

// Options configure the adapter. The zero value works for a login node with
// the Slurm commands on its PATH.
type Options struct {
	// BinDir is the directory of the Slurm commands on the login node, e.g.
	// "/opt/slurm/bin". Default: none, the commands are found on PATH.
	BinDir string
	// Templates holds jobs/slurm.sh.tmpl. Default: the embedded templates.FS.
	Templates fs.FS
	// Location is the login node's time zone: squeue prints local times
	// without one. Default: time.Local.
	Location *time.Location
	// Logger receives one line per query that dropped malformed records.
	// Default: slog.Default().
	Logger *slog.Logger
}

// Scheduler runs Slurm's commands through an Executor.
type Scheduler struct {
	exec batch.Executor
	opts Options
	// nonce draws each squeue query's separator nonce (format.go); tests
	// replaying a recording return the recorded one.
	nonce func() string
}

var (
	_ batch.Scheduler      = (*Scheduler)(nil)
	_ batch.History        = (*Scheduler)(nil)
	_ batch.StartEstimator = (*Scheduler)(nil)
	_ batch.Lister         = (*Scheduler)(nil)
	_ batch.QueueReader    = (*Scheduler)(nil)
	_ batch.Releaser       = (*Scheduler)(nil)
)

// New returns a Slurm scheduler that runs its commands with exec.
func New(exec batch.Executor, opts Options) *Scheduler {
	if opts.Templates == nil {
		opts.Templates = templates.FS
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Scheduler{exec: exec, opts: opts, nonce: newNonce}
}

// Kind puts Slurm in the table of batch/schedulers: "scheduler: slurm" in
// a site file. It has no scheduler_options.
var Kind = batch.Kind{Name: "slurm", New: fromSite}

func fromSite(exec batch.Executor, site batch.Site) (batch.Scheduler, error) {
	return New(exec, Options{BinDir: site.BinDir, Templates: site.Templates, Location: site.Location, Logger: site.Logger}), nil
}

// Kind is "slurm".
func (s *Scheduler) Kind() string { return "slurm" }

// bin is the command name on the login node.
func (s *Scheduler) bin(name string) string {
	if s.opts.BinDir == "" {
		return name
	}
	return path.Join(s.opts.BinDir, name)
}

func (s *Scheduler) run(ctx context.Context, user string, stdin []byte, argv ...string) ([]byte, error) {
	argv[0] = s.bin(argv[0])
	return s.exec.Run(ctx, batch.Command{User: user, Argv: argv, Stdin: stdin})
}

// Submit renders spec's script, creates its run directory and submits the
// script on sbatch's stdin as spec.User, so secrets in it never appear on a
// command line. A held job (spec.Hold) is submitted with --hold.
func (s *Scheduler) Submit(ctx context.Context, spec batch.JobSpec) (string, error) {
	what := fmt.Sprintf("submit job %s for %s", spec.Name, spec.User)
	script, err := batch.PrepareSubmit(ctx, s.exec, s.opts.Templates, ScriptTemplate, spec, scriptFuncs)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	argv := []string{"sbatch", "--parsable"}
	if spec.Hold {
		argv = append(argv, "--hold")
	}
	out, err := s.run(ctx, spec.User, script, argv...)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	id, err := parseJobID(out)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return id, nil
}

// Cancel cancels id as user. scancel of a job that has ended, or that Slurm
// has forgotten, exits 0 silently, so that is not an error; another user's
// job is ("Access/permission denied", exit 210).
func (s *Scheduler) Cancel(ctx context.Context, user, id string) error {
	if !validID(id) {
		return fmt.Errorf("cancel job %q for %s: not a Slurm job id", id, user)
	}
	if _, err := s.run(ctx, user, nil, "scancel", id); err != nil {
		return fmt.Errorf("cancel job %s for %s: %w", id, user, err)
	}
	return nil
}

// Release releases a job submitted held, as user. Releasing a job that is
// not held succeeds; one Slurm does not know is batch.ErrNotFound.
func (s *Scheduler) Release(ctx context.Context, user, id string) error {
	if !validID(id) {
		return fmt.Errorf("release job %q for %s: not a Slurm job id", id, user)
	}
	if _, err := s.run(ctx, user, nil, "scontrol", "release", id); err != nil {
		if invalidJobID(err) {
			return fmt.Errorf("release job %s for %s: %w: %w", id, user, batch.ErrNotFound, err)
		}
		return fmt.Errorf("release job %s for %s: %w", id, user, err)
	}
	return nil
}

// invalidJobID reports whether err is Slurm saying it does not know a job:
// it was purged MinJobAge after it ended, or never existed.
func invalidJobID(err error) bool {
	var ce *batch.CommandError
	return errors.As(err, &ce) && ce.ExitCode == 1 && strings.Contains(ce.Stderr, "Invalid job id specified")
}
