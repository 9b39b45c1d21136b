package sge

import (
	"bytes"
	"flag"
	"testing"
	"time"

	"hpcgate/batch"
	"hpcgate/batch/batchtest"
	"hpcgate/templates"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestScripts runs the shared job template suite on jobs/sge.sh.tmpl, as
// Grid Engine's shepherd starts a script with -S /bin/bash: a login shell
// ("-bash", since bash is in the cluster's login_shells), so its
// ~/.bash_logout runs at exit, with HOSTNAME set to the execution host's
// name as Grid Engine knows it.
func TestScripts(t *testing.T) {
	s, err := New(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	batchtest.Scripts(t, batchtest.ScriptSuite{
		Render: func(spec batch.JobSpec) ([]byte, error) {
			return batch.Script(templates.FS, ScriptTemplate, spec, s.funcs)
		},
		Directive: "#$ ",
		// "-pe smp 4": the option, the parallel environment, the slots.
		DirectiveWords: 3,
		Hold:           "-h",
		Extra:          []string{"-notify", "-hard"},
		Node: func(t *testing.T) batchtest.Node {
			return batchtest.Node{
				Env:        []string{"HOSTNAME=node8.example.org", "JOB_ID=42"},
				Host:       "node8.example.org",
				LoginShell: true,
			}
		},
		Update: *update,
	})
}

// TestSiteNames: the site's names reach the script, and a name that is not
// a Grid Engine name is refused before any script is rendered.
func TestSiteNames(t *testing.T) {
	s, err := New(nil, Options{SiteOptions: SiteOptions{ParallelEnvironment: "threads", MemoryResource: "mem_free", GPUResource: "ngpus"}})
	if err != nil {
		t.Fatal(err)
	}
	spec := batch.JobSpec{Name: "hpcgate-alice-x-1", User: "alice", Cores: 3, MemoryMB: 1000, GPUs: 1,
		Walltime: 90 * time.Minute, App: batch.App{Argv: []string{"true"}}}
	got, err := batch.Script(templates.FS, ScriptTemplate, spec, s.funcs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#$ -pe threads 3\n", "#$ -l mem_free=334M\n", "#$ -l ngpus=1\n", "#$ -l h_rt=01:30:00\n"} {
		if !contains(got, want) {
			t.Errorf("script lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []SiteOptions{
		{ParallelEnvironment: "smp 4"},
		{MemoryResource: "h_vmem=1G;x"},
		{GPUResource: "$(id)"},
		{ParallelEnvironment: "-pe"},
	} {
		if _, err := New(nil, Options{SiteOptions: bad}); err == nil {
			t.Errorf("New accepted %+v", bad)
		}
		opts := Kind.Options().(*SiteOptions)
		if errs := opts.Validate(); len(errs) != 0 {
			t.Errorf("the defaults do not validate: %v", errs)
		}
	}
}

func contains(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }
