package slurm

import (
	"strings"
	"testing"

	"hpcgate/batch/batchtest"
)

// fixtureDir holds real Slurm outputs recorded by testdata/slurm/record.sh.
const fixtureDir = "../../testdata/slurm"

func loadFixture(t *testing.T, name string) batchtest.Fixture {
	t.Helper()
	return batchtest.LoadFixture(t, fixtureDir, name)
}

// newReplay answers with the named fixtures, each run as user ("" is the
// hub's service account, as which record.sh ran the queries).
func newReplay(t *testing.T, user string, names ...string) *batchtest.Replay {
	return batchtest.NewReplay(t, fixtureDir, user, names...)
}

// arg returns the value of --name=value in the fixture's argv.
func arg(t *testing.T, f batchtest.Fixture, name string) string {
	t.Helper()
	for _, a := range f.Argv {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	t.Fatalf("fixture %s: no %s= in %q", f.Name, name, f.Argv)
	return ""
}

// jobIDs is the fixture's --jobs list.
func jobIDs(t *testing.T, f batchtest.Fixture) []string {
	return strings.Split(arg(t, f, "--jobs"), ",")
}
