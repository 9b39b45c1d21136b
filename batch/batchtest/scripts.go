package batchtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hpcgate/batch"
)

// ScriptSuite describes one scheduler's job template to Scripts.
type ScriptSuite struct {
	// Render renders the scheduler's job template for spec, with the
	// adapter's own template functions. Required.
	Render func(spec batch.JobSpec) ([]byte, error)
	// Directive starts the scheduler's directive lines ("#SBATCH ",
	// "#PBS "). Required.
	Directive string
	// DirectiveWords is the most words one directive may have: 1 where
	// options carry their value ("--time=1:00:00"), 2 where it follows
	// ("-N name"). Default: 1.
	DirectiveWords int
	// Hold is the submit command's option that holds a job ("--hold",
	// "-h"): the hub passes it on the command line, so no directive may
	// say it. Required.
	Hold string
	// Extra are two of the scheduler's own options, for the "full" spec's
	// Extra (a site's profile extra: list).
	Extra []string
	// Node is how the scheduler starts a script on its compute node; it
	// may create files in t.TempDir(). Required.
	Node func(t *testing.T) Node
	// Update rewrites the golden files instead of comparing (the adapter's
	// -update flag).
	Update bool
}

// scriptSpecs are the golden cases: the smallest job and one using every
// field. Their scripts are testdata/<name>.sh.golden in the adapter's
// package.
func scriptSpecs(extra []string) map[string]batch.JobSpec {
	return map[string]batch.JobSpec{
		"minimal": {
			Name: "hpcgate-alice-default-1a2b", User: "alice", Cores: 1, Walltime: time.Hour,
			App: batch.App{Argv: []string{"jupyterhub-singleuser", "--ip=0.0.0.0", "--port={port}"}},
		},
		"full": {
			Name: "hpcgate-bob-gpu-9f8e", User: "bob", Partition: "long", Account: "proj-x",
			Cores: 4, MemoryMB: 8192, GPUs: 2, Walltime: 72*time.Hour + 30*time.Second,
			Hold:   true,
			Extra:  extra,
			RunDir: "jobs/hpcgate",
			App: batch.App{
				Argv: []string{"jupyterhub-singleuser", "--ip={host}", "--port={port}", "--notebook-dir=~/my notebooks"},
				Env: map[string]string{
					"JUPYTERHUB_API_TOKEN":   "s3cr3t'tok\"en$x",
					"JUPYTERHUB_SERVICE_URL": "http://{host}:{port}/user/bob/",
				},
				Setup: []string{"module load python/3.11", "source /opt/site/env.sh"},
			},
		},
	}
}

// Scripts is the shared suite every job template passes: its renderings
// equal the golden files and are valid bash, its directives come first and
// are one option each, and the script keeps the job contract (CheckScript)
// when run as the scheduler runs it on a node.
func Scripts(t *testing.T, s ScriptSuite) {
	t.Helper()
	if s.Render == nil || s.Directive == "" || s.Hold == "" || s.Node == nil {
		t.Fatal("scripts: Render, Directive, Hold and Node are required")
	}
	if s.DirectiveWords == 0 {
		s.DirectiveWords = 1
	}
	for name, spec := range scriptSpecs(s.Extra) {
		t.Run("Golden/"+name, func(t *testing.T) {
			got, err := s.Render(spec)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".sh.golden")
			if s.Update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("rendered script differs from %s (go test -update rewrites it):\n%s", path, got)
			}
			if out, err := exec.Command("bash", "-n", "-c", string(got)).CombinedOutput(); err != nil {
				t.Errorf("bash -n: %v\n%s", err, out)
			}
			s.checkDirectives(t, got)
		})
	}
	t.Run("Behaviour", func(t *testing.T) {
		spec := batch.JobSpec{
			Name: "hpcgate-alice-script-1", User: "alice", Cores: 1, Walltime: time.Hour,
			RunDir: "run/hpcgate", App: ScriptApp,
		}
		script, err := s.Render(spec)
		if err != nil {
			t.Fatal(err)
		}
		CheckScript(t, script, spec, s.Node(t))
	})
	t.Run("Secret", func(t *testing.T) { CheckSecret(t, s.Render, s.Node(t)) })
}

// checkDirectives: a scheduler reads directives only before the first
// command, so all must come first; each must be one option (with at most
// its value as one more word), and none may hold the job.
func (s ScriptSuite) checkDirectives(t *testing.T, script []byte) {
	t.Helper()
	inHeader, seen := true, 0
	for i, line := range strings.Split(string(script), "\n") {
		if i == 0 {
			continue
		}
		text, isDirective := strings.CutPrefix(line, s.Directive)
		if !isDirective {
			if line != "" && !strings.HasPrefix(line, "#") {
				inHeader = false
			}
			continue
		}
		seen++
		if !inHeader {
			t.Errorf("line %d: directive after the first command: %q", i+1, line)
		}
		f := strings.Fields(text)
		if len(f) == 0 || len(f) > s.DirectiveWords || !strings.HasPrefix(f[0], "-") || strings.ContainsAny(text, `'"`) {
			t.Errorf("line %d: directive is not one plain option: %q", i+1, line)
			continue
		}
		if opt, _, _ := strings.Cut(f[0], "="); opt == s.Hold {
			t.Errorf("line %d: the script holds the job itself: %q", i+1, line)
		}
	}
	if seen == 0 {
		t.Errorf("no %q directive in the script", s.Directive)
	}
}
