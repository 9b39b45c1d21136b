// Package sge is the Grid Engine adapter (Son of Grid Engine 8.1, and the
// Sun/Oracle/Univa/Altair lineage whose commands it shares): it submits,
// follows and cancels jobs with qsub, qstat -xml, qacct, qdel and qrls run
// through a batch.Executor (normally the pooled SSH connection to the login
// node), and parses their output. It holds no business logic: it
// translates, and returns an error rather than partial data.
//
// It imports batch and templates only; never gateway, sshexec or a sibling
// adapter.
//
// Status is one qstat -xml for every job of every user (qstat cannot list
// chosen ids in its list mode), plus, only while a tracked job is in an
// error state (Eqw), one qstat -j for those jobs' error reasons. A job that
// has left the queue is confirmed gone by qstat -j's refusal and its end
// read from qacct (see History). Grid Engine keeps no estimate of when a
// pending job starts unless it holds a reservation for it (-R y), which
// qstat does not show either, so there is no StartEstimator.
package sge

import (
	"context"
	"errors"
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
const ScriptTemplate = "jobs/sge.sh.tmpl"

// Options configure the adapter. The zero value works for a login node with
// the Grid Engine commands on its PATH and a site with the usual names.
type Options struct {
	// BinDir is the directory of the Grid Engine commands on the login
	// node, e.g. "/opt/sge/bin/lx-amd64". Default: none, the commands are
	// found on PATH. The commands need SGE_ROOT (and SGE_CELL unless it is
	// "default"), which a non-interactive SSH command does not get from
	// /etc/profile.d: point BinDir at wrappers that set them, or have sshd
	// set them (SetEnv).
	BinDir string
	// Templates holds jobs/sge.sh.tmpl. Default: the embedded templates.FS.
	Templates fs.FS
	// Location is the login node's time zone: qstat and qacct print local
	// times without one. Default: time.Local.
	Location *time.Location
	// Logger receives one line per query that dropped records it could
	// not read. Default: slog.Default().
	Logger *slog.Logger
	SiteOptions
}

// SiteOptions are the names a Grid Engine site chooses itself, set in a
// cluster's scheduler_options block.
type SiteOptions struct {
	// ParallelEnvironment is the parallel environment a job of more than
	// one core asks for (-pe NAME cores); it should place all slots on one
	// host (allocation_rule $pe_slots). Default: "smp".
	ParallelEnvironment string `yaml:"parallel_environment"`
	// MemoryResource is the complex a job's memory is requested with, per
	// slot as Grid Engine counts it: the job's memory divided by its cores,
	// rounded up to the MB. Default: "h_vmem".
	MemoryResource string `yaml:"memory_resource"`
	// GPUResource is the complex a job's GPUs are requested with. It should
	// be a per-job consumable (consumable JOB): a per-slot one would
	// multiply the GPUs by the cores. Default: "gpu".
	GPUResource string `yaml:"gpu_resource"`
}

// reComplex is a parallel environment or complex name as it may reach a
// job script: Grid Engine's object names, without the characters it
// forbids or a shell would interpret.
var reComplex = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,63}$`)

// Validate checks the names that reach every job script.
func (o *SiteOptions) Validate() []batch.OptionError {
	var errs []batch.OptionError
	for _, f := range []struct{ key, v string }{
		{"parallel_environment", o.ParallelEnvironment},
		{"memory_resource", o.MemoryResource},
		{"gpu_resource", o.GPUResource},
	} {
		if !reComplex.MatchString(f.v) {
			errs = append(errs, batch.OptionError{Key: f.key,
				Message: fmt.Sprintf("%q is not a Grid Engine name (letters, digits, _ . -; up to 64)", f.v)})
		}
	}
	return errs
}

func (o *SiteOptions) defaults() {
	if o.ParallelEnvironment == "" {
		o.ParallelEnvironment = "smp"
	}
	if o.MemoryResource == "" {
		o.MemoryResource = "h_vmem"
	}
	if o.GPUResource == "" {
		o.GPUResource = "gpu"
	}
}

// Kind registers Grid Engine with batch/schedulers ("scheduler: sge"); its
// scheduler_options are SiteOptions.
var Kind = batch.Kind{
	Name: "sge",
	Options: func() any {
		o := &SiteOptions{}
		o.defaults()
		return o
	},
	New: fromSite,
}

func fromSite(exec batch.Executor, site batch.Site) (batch.Scheduler, error) {
	opts := Options{BinDir: site.BinDir, Templates: site.Templates, Location: site.Location, Logger: site.Logger}
	if so, ok := site.Options.(*SiteOptions); ok && so != nil {
		opts.SiteOptions = *so
	}
	return New(exec, opts)
}

// Scheduler runs Grid Engine's commands through an Executor.
type Scheduler struct {
	exec  batch.Executor
	opts  Options
	funcs template.FuncMap
}

var (
	_ batch.Scheduler       = (*Scheduler)(nil)
	_ batch.History         = (*Scheduler)(nil)
	_ batch.Lister          = (*Scheduler)(nil)
	_ batch.QueueReader     = (*Scheduler)(nil)
	_ batch.Releaser        = (*Scheduler)(nil)
	_ batch.ReasonExplainer = (*Scheduler)(nil)
)

// New returns a Grid Engine scheduler that runs its commands with exec. It
// fails only on site names that cannot reach a script.
func New(exec batch.Executor, opts Options) (*Scheduler, error) {
	if opts.Templates == nil {
		opts.Templates = templates.FS
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.SiteOptions.defaults()
	if errs := opts.SiteOptions.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("grid engine options: %w", errs[0])
	}
	return &Scheduler{exec: exec, opts: opts, funcs: scriptFuncs(opts.SiteOptions)}, nil
}

// scriptFuncs are jobs/sge.sh.tmpl's functions beyond the common ones: the
// site's names, and the values in the units Grid Engine reads.
func scriptFuncs(o SiteOptions) template.FuncMap {
	return template.FuncMap{
		"walltime":       batch.FormatWalltime, // h_rt: hours may exceed 24
		"pe":             func() string { return o.ParallelEnvironment },
		"memoryResource": func() string { return o.MemoryResource },
		"gpuResource":    func() string { return o.GPUResource },
		// Grid Engine counts memory per slot.
		"memoryPerSlot": func(s batch.JobSpec) int { return (s.MemoryMB + s.Cores - 1) / s.Cores },
	}
}

// Kind is "sge".
func (s *Scheduler) Kind() string { return "sge" }

func (s *Scheduler) run(ctx context.Context, user string, stdin []byte, argv ...string) ([]byte, error) {
	if s.opts.BinDir != "" {
		argv[0] = path.Join(s.opts.BinDir, argv[0])
	}
	return s.exec.Run(ctx, batch.Command{User: user, Argv: argv, Stdin: stdin})
}

// reID is a job id as the hub passes it: Grid Engine's job number (array
// task ids are never the hub's).
var reID = regexp.MustCompile(`^[1-9][0-9]{0,9}$`)

func validID(id string) bool { return reID.MatchString(id) }

// Submit renders spec's script, creates its run directory and submits the
// script on qsub's stdin as spec.User, so secrets in it never appear on a
// command line. A held job (spec.Hold) is submitted with -h; -terse makes
// qsub print the job number alone.
func (s *Scheduler) Submit(ctx context.Context, spec batch.JobSpec) (string, error) {
	what := fmt.Sprintf("submit job %s for %s", spec.Name, spec.User)
	script, err := batch.PrepareSubmit(ctx, s.exec, s.opts.Templates, ScriptTemplate, spec, s.funcs)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	argv := []string{"qsub", "-terse"}
	if spec.Hold {
		argv = append(argv, "-h")
	}
	out, err := s.run(ctx, spec.User, script, argv...)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	id := strings.TrimSpace(string(out))
	if !validID(id) {
		return "", fmt.Errorf("%s: qsub printed %q, not a job id", what, clean(id, 100))
	}
	return id, nil
}

// reNotExist is how qdel and qrls refuse a job Grid Engine does not know
// (never existed, or ended): `denied: job "7" does not exist`, exit 1 for
// qdel and 3 for qrls.
var reNotExist = regexp.MustCompile(`(?m)^denied: job "([0-9]+)" does not exist$`)

// qdel and qrls print their refusals on stdout, and some errors half on
// each ("error: commlib error: …" on stderr, "unable to send message to
// qmaster …" on stdout): wordsOnStdout adds stdout to the error's words, so
// users see all of Grid Engine's.
func wordsOnStdout(out []byte, err error) error {
	var ce *batch.CommandError
	words := strings.TrimSpace(string(out))
	if !errors.As(err, &ce) || words == "" {
		return err
	}
	c := *ce
	c.Stderr = strings.TrimSpace(strings.TrimSpace(ce.Stderr) + "\n" + clean(words, maxReason))
	return &c
}

func doesNotExist(err error, id string) bool {
	var ce *batch.CommandError
	if !errors.As(err, &ce) {
		return false
	}
	m := reNotExist.FindStringSubmatch(strings.TrimSpace(ce.Stderr))
	return m != nil && m[1] == id
}

// Cancel deletes id as user. A job Grid Engine no longer knows (it ended,
// or never existed) is not an error; another user's job is ("you do not
// have the necessary privileges"). A running job is signalled with the
// queue's terminate_method (SIGKILL unless the site set SIGTERM) and shows
// as "dr" until it has gone.
func (s *Scheduler) Cancel(ctx context.Context, user, id string) error {
	if !validID(id) {
		return fmt.Errorf("cancel job %q for %s: not a Grid Engine job id", id, user)
	}
	out, err := s.run(ctx, user, nil, "qdel", id)
	err = wordsOnStdout(out, err)
	if err == nil || doesNotExist(err, id) {
		return nil
	}
	return fmt.Errorf("cancel job %s for %s: %w", id, user, err)
}

// Release releases a job submitted held (a user hold), as user. Releasing a
// job that is not held succeeds; one Grid Engine does not know is
// batch.ErrNotFound.
func (s *Scheduler) Release(ctx context.Context, user, id string) error {
	if !validID(id) {
		return fmt.Errorf("release job %q for %s: not a Grid Engine job id", id, user)
	}
	out, err := s.run(ctx, user, nil, "qrls", id)
	err = wordsOnStdout(out, err)
	switch {
	case err == nil:
		return nil
	case doesNotExist(err, id):
		return fmt.Errorf("release job %s for %s: %w: %w", id, user, batch.ErrNotFound, err)
	}
	return fmt.Errorf("release job %s for %s: %w", id, user, err)
}
