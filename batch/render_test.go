package batch

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
	"text/template"
	"time"
)

// TestScriptFuncs: an adapter's own functions reach its template beside
// the common ones, a template without them cannot use them, and no adapter
// can replace the quoting every template relies on.
func TestScriptFuncs(t *testing.T) {
	fsys := fstest.MapFS{"jobs/x.sh.tmpl": {Data: []byte("#X -t {{walltime .Walltime}} -N {{quote .Name}}\n")}}
	spec := JobSpec{Name: "hpcgate-alice-x-1", User: "alice", Cores: 1, Walltime: 90 * time.Minute,
		App: App{Argv: []string{"true"}}}
	seconds := template.FuncMap{"walltime": func(d time.Duration) int { return int(d.Seconds()) }}

	got, err := Script(fsys, "jobs/x.sh.tmpl", spec, seconds)
	if err != nil || string(got) != "#X -t 5400 -N hpcgate-alice-x-1\n" {
		t.Errorf("with the adapter's walltime: %q, %v", got, err)
	}
	if _, err := Script(fsys, "jobs/x.sh.tmpl", spec, nil); err == nil || !strings.Contains(err.Error(), `"walltime" not defined`) {
		t.Errorf("without the adapter's functions: %v, want walltime not defined", err)
	}
	unquoted := template.FuncMap{"quote": func(s string) string { return s }}
	if _, err := Script(fsys, "jobs/x.sh.tmpl", spec, unquoted); err == nil || !strings.Contains(err.Error(), "redefines the common function quote") {
		t.Errorf("an adapter replacing quote: %v, want refused", err)
	}
}

type recordingExec struct {
	cmds []Command
	err  error
}

func (r *recordingExec) Run(_ context.Context, c Command) ([]byte, error) {
	r.cmds = append(r.cmds, c)
	return nil, r.err
}

// PrepareSubmit renders before it touches the cluster, and creates the run
// directory as the job's user with the system's mkdir.
func TestPrepareSubmit(t *testing.T) {
	fsys := fstest.MapFS{"jobs/x.sh.tmpl": {Data: []byte("#X {{quote .Name}}\n")}}
	spec := JobSpec{Name: "hpcgate-alice-x-1", User: "alice", Cores: 1, Walltime: time.Hour,
		RunDir: "runs/x-1", App: App{Argv: []string{"true"}}}

	ex := &recordingExec{}
	got, err := PrepareSubmit(context.Background(), ex, fsys, "jobs/x.sh.tmpl", spec, nil)
	if err != nil || string(got) != "#X hpcgate-alice-x-1\n" {
		t.Fatalf("script %q, %v", got, err)
	}
	want := []string{"mkdir", "-p", "-m", "0700", "--", "runs/x-1"}
	if len(ex.cmds) != 1 || ex.cmds[0].User != "alice" || strings.Join(ex.cmds[0].Argv, " ") != strings.Join(want, " ") {
		t.Errorf("commands %+v; want one %v as alice", ex.cmds, want)
	}

	ex = &recordingExec{}
	if _, err := PrepareSubmit(context.Background(), ex, fsys, "jobs/missing.sh.tmpl", spec, nil); err == nil || len(ex.cmds) != 0 {
		t.Errorf("a template that does not render: %v after %d commands; want an error and none", err, len(ex.cmds))
	}

	ex = &recordingExec{err: &CommandError{ExitCode: 1, Stderr: "mkdir: cannot create directory 'runs': Disk quota exceeded"}}
	if _, err := PrepareSubmit(context.Background(), ex, fsys, "jobs/x.sh.tmpl", spec, nil); err == nil ||
		!strings.Contains(err.Error(), "create run directory runs/x-1") || !strings.Contains(err.Error(), "Disk quota exceeded") {
		t.Errorf("mkdir refused: %v; want the directory and mkdir's words", err)
	}
}
