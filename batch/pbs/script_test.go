package pbs

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hpcgate/batch"
	"hpcgate/batch/batchtest"
	"hpcgate/templates"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// scriptSpecs are the golden cases: the smallest job and one using every
// field.
var scriptSpecs = map[string]batch.JobSpec{
	"minimal": {
		Name: "hpcgate-alice-default-1a2b", User: "alice", Cores: 1, Walltime: time.Hour,
		App: batch.App{Argv: []string{"jupyterhub-singleuser", "--ip=0.0.0.0", "--port={port}"}},
	},
	"full": {
		Name: "hpcgate-bob-gpu-9f8e", User: "bob", Partition: "long", Account: "proj-x",
		Cores: 4, MemoryMB: 8192, GPUs: 2, Walltime: 72*time.Hour + 30*time.Second,
		Hold:   true,
		Extra:  []string{"-lplace=excl", "-Wsandbox=PRIVATE"},
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

func TestScriptGolden(t *testing.T) {
	for name, spec := range scriptSpecs {
		t.Run(name, func(t *testing.T) {
			got, err := batch.Script(templates.FS, ScriptTemplate, spec)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".sh.golden")
			if *update {
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
			// Hold is qsub's -h, never a directive.
			if strings.Contains(string(got), "#PBS -h") {
				t.Error("the script holds the job itself")
			}
			checkDirectives(t, got)
		})
	}
}

// checkDirectives: qsub reads #PBS lines only before the first
// command, so all must come first, and each must be one option.
func checkDirectives(t *testing.T, script []byte) {
	t.Helper()
	inHeader := true
	for i, line := range strings.Split(string(script), "\n") {
		if i == 0 {
			continue
		}
		isDirective := strings.HasPrefix(line, "#PBS ")
		if isDirective && !inHeader {
			t.Errorf("line %d: #PBS after the first command: %q", i+1, line)
		}
		// One option, with its value as one word after it ("-N name").
		if f := strings.Fields(strings.TrimPrefix(line, "#PBS ")); isDirective &&
			(len(f) > 2 || !strings.HasPrefix(f[0], "-") || strings.ContainsAny(line, "'\"")) {
			t.Errorf("line %d: directive is not one plain option: %q", i+1, line)
		}
		if !isDirective && line != "" && !strings.HasPrefix(line, "#") {
			inHeader = false
		}
	}
}

// The rendered script keeps its contract when bash runs it as PBS would on
// the node (PBS_NODEFILE lists the hosts, the first runs the script).
func TestScriptBehaviour(t *testing.T) {
	spec := batch.JobSpec{
		Name: "hpcgate-alice-script-1", User: "alice", Cores: 1, Walltime: time.Hour,
		RunDir: "run/hpcgate", App: batchtest.ScriptApp,
	}
	script, err := batch.Script(templates.FS, ScriptTemplate, spec)
	if err != nil {
		t.Fatal(err)
	}
	nodefile := filepath.Join(t.TempDir(), "nodes")
	if err := os.WriteFile(nodefile, []byte("node8.example.org\nnode9.example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	batchtest.CheckScript(t, script, spec, batchtest.Node{
		Env:        []string{"PBS_NODEFILE=" + nodefile, "PBS_JOBID=42.server"},
		Host:       "node8.example.org",
		LoginShell: true,
	})
}
