// Package pbs is the PBS adapter (OpenPBS and PBS Professional): it
// submits, follows and cancels jobs with qsub, qstat -f -F json, qdel and
// qrls run through a batch.Executor (normally the pooled SSH connection to
// the login node), and parses their output. It holds no business logic: it
// translates, and returns an error rather than partial data.
//
// It imports batch and templates only; never gateway, sshexec or a sibling
// adapter.
//
// Every query is one qstat command however many jobs it covers; with -x it
// also reports jobs that have finished, for as long as the server keeps job
// history (job_history_enable, job_history_duration: two weeks by default).
package pbs

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"strings"
	"text/template"
	"time"

	"hpcgate/batch"
	"hpcgate/templates"
)

// ScriptTemplate is the job script template's name in Options.Templates.
const ScriptTemplate = "jobs/pbs.sh.tmpl"

// scriptFuncs: "walltime" writes -l walltime= as HH:MM:SS, PBS's form.
var scriptFuncs = template.FuncMap{"walltime": batch.FormatWalltime}

// PBS exit statuses (pbs_errno & 0xff) the adapter relies on.
const (
	exitUnknownJob = 153 // PBSE_UNKJOBID: "Unknown Job Id"
	exitFinished   = 35  // PBSE_HISTJOBID: "Job has finished"
	exitBadState   = 168 // PBSE_BADSTATE: the job is exiting
)

// Options configure the adapter. The zero value works for a login node with
// the PBS commands on its PATH.
type Options struct {
	// BinDir is the directory of the PBS commands on the login node, e.g.
	// "/opt/pbs/bin". Default: none, the commands are found on PATH.
	BinDir string
	// Templates holds jobs/pbs.sh.tmpl. Default: the embedded templates.FS.
	Templates fs.FS
	// Location is the login node's time zone: qstat prints local times
	// without one. Default: time.Local.
	Location *time.Location
	// Logger receives one line per query with unreadable job records.
	// Default: slog.Default().
	Logger *slog.Logger
}

// Scheduler runs PBS's commands through an Executor.
type Scheduler struct {
	exec batch.Executor
	opts Options
}

var (
	_ batch.Scheduler      = (*Scheduler)(nil)
	_ batch.History        = (*Scheduler)(nil)
	_ batch.StartEstimator = (*Scheduler)(nil)
	_ batch.Lister         = (*Scheduler)(nil)
	_ batch.QueueReader    = (*Scheduler)(nil)
	_ batch.Releaser       = (*Scheduler)(nil)
)

// New returns a PBS scheduler that runs its commands with exec.
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
	return &Scheduler{exec: exec, opts: opts}
}

// Kind registers PBS with batch/schedulers ("scheduler: pbs"); PBS needs
// no options of its own.
var Kind = batch.Kind{Name: "pbs", New: fromSite}

func fromSite(exec batch.Executor, site batch.Site) (batch.Scheduler, error) {
	return New(exec, Options{BinDir: site.BinDir, Templates: site.Templates, Location: site.Location, Logger: site.Logger}), nil
}

// Kind is "pbs".
func (s *Scheduler) Kind() string { return "pbs" }

func (s *Scheduler) run(ctx context.Context, user string, stdin []byte, argv ...string) ([]byte, error) {
	if s.opts.BinDir != "" {
		argv[0] = path.Join(s.opts.BinDir, argv[0])
	}
	return s.exec.Run(ctx, batch.Command{User: user, Argv: argv, Stdin: stdin})
}

// reID is a PBS job id as the hub may pass it on a command line:
// "seq[.server]", with "[]" or "[index]" for arrays.
var reID = regexp.MustCompile(`^[0-9]+(\[[0-9]*\])?(\.[A-Za-z0-9][A-Za-z0-9_.-]*)?$`)

func validID(id string) bool { return len(id) <= 255 && reID.MatchString(id) }

// Submit renders spec's script, creates its run directory and submits the
// script on qsub's stdin as spec.User, so secrets in it never appear on a
// command line. A held job (spec.Hold) is submitted with -h.
func (s *Scheduler) Submit(ctx context.Context, spec batch.JobSpec) (string, error) {
	what := fmt.Sprintf("submit job %s for %s", spec.Name, spec.User)
	script, err := batch.PrepareSubmit(ctx, s.exec, s.opts.Templates, ScriptTemplate, spec, scriptFuncs)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	argv := []string{"qsub"}
	if spec.Hold {
		argv = append(argv, "-h")
	}
	out, err := s.run(ctx, spec.User, script, argv...)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	id := strings.TrimSpace(string(out))
	if !validID(id) {
		return "", fmt.Errorf("%s: qsub printed %q, not a job id", what, id)
	}
	return id, nil
}

// Cancel deletes id as user. A job PBS no longer knows (153), one that has
// finished (35) or one already exiting (168) is not an error; another
// user's job is ("Unauthorized Request").
func (s *Scheduler) Cancel(ctx context.Context, user, id string) error {
	if !validID(id) {
		return fmt.Errorf("cancel job %q for %s: not a PBS job id", id, user)
	}
	_, err := s.run(ctx, user, nil, "qdel", id)
	if err == nil {
		return nil
	}
	switch batch.ExitCode(err) { // -1 when the connection failed: qdel may not have run
	case exitUnknownJob, exitFinished, exitBadState:
		return nil
	}
	return fmt.Errorf("cancel job %s for %s: %w", id, user, err)
}

// Release releases a job submitted held, as user. Releasing a job that is
// not held succeeds; one PBS does not know is batch.ErrNotFound.
func (s *Scheduler) Release(ctx context.Context, user, id string) error {
	if !validID(id) {
		return fmt.Errorf("release job %q for %s: not a PBS job id", id, user)
	}
	_, err := s.run(ctx, user, nil, "qrls", id)
	switch {
	case err == nil:
		return nil
	case batch.ExitCode(err) == exitUnknownJob:
		return fmt.Errorf("release job %s for %s: %w: %w", id, user, batch.ErrNotFound, err)
	}
	return fmt.Errorf("release job %s for %s: %w", id, user, err)
}
