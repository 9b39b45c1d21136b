package pbs

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"hpcgate/batch"
	"hpcgate/batch/batchtest"
	"hpcgate/templates"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestScripts runs the shared job template suite on jobs/pbs.sh.tmpl, as
// PBS's mom starts a script: a login shell reading it on stdin, with
// PBS_NODEFILE listing the hosts (the first runs the script).
func TestScripts(t *testing.T) {
	batchtest.Scripts(t, batchtest.ScriptSuite{
		Render: func(spec batch.JobSpec) ([]byte, error) {
			return batch.Script(templates.FS, ScriptTemplate, spec, scriptFuncs)
		},
		Directive:      "#PBS ",
		DirectiveWords: 2,
		Hold:           "-h",
		Extra:          []string{"-lplace=excl", "-Wsandbox=PRIVATE"},
		Node: func(t *testing.T) batchtest.Node {
			nodefile := filepath.Join(t.TempDir(), "nodes")
			if err := os.WriteFile(nodefile, []byte("node8.example.org\nnode9.example.org\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return batchtest.Node{
				Env:        []string{"PBS_NODEFILE=" + nodefile, "PBS_JOBID=42.server"},
				Host:       "node8.example.org",
				LoginShell: true,
			}
		},
		Update: *update,
	})
}
