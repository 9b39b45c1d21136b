package batch

import (
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
