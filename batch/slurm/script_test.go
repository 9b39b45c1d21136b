package slurm

import (
	"flag"
	"testing"

	"hpcgate/batch"
	"hpcgate/batch/batchtest"
	"hpcgate/templates"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestScripts runs the shared job template suite on jobs/slurm.sh.tmpl, as
// slurmd starts a script: bash with the script as its file,
// SLURMD_NODENAME naming the node.
func TestScripts(t *testing.T) {
	batchtest.Scripts(t, batchtest.ScriptSuite{
		Render: func(spec batch.JobSpec) ([]byte, error) {
			return batch.Script(templates.FS, ScriptTemplate, spec, scriptFuncs)
		},
		Directive: "#SBATCH ",
		Hold:      "--hold",
		Extra:     []string{"--qos=interactive", "--constraint=haswell"},
		Node: func(*testing.T) batchtest.Node {
			return batchtest.Node{Env: []string{"SLURMD_NODENAME=node7", "SLURM_JOB_ID=42"}, Host: "node7"}
		},
		Update: *update,
	})
}
