package slurm

import (
	"os"
	"strings"
	"testing"
	"time"

	"hpcgate/batch"
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

// fixtureNonce is the squeue nonce record.sh drew for its run (one for the
// whole run), read from the Reason field of squeue-queue's -O format.
var fixtureNonce = func() string {
	b, _ := os.ReadFile(fixtureDir + "/squeue-queue.cmd")
	for _, a := range strings.Split(string(b), "\n") {
		if _, nonce, ok := strings.Cut(a, "Reason:"+recordSep); ok && strings.HasPrefix(a, "--Format=") {
			return nonce
		}
	}
	return ""
}()

func recordedNonce(t testing.TB) string {
	t.Helper()
	if len(fixtureNonce) != 16 {
		t.Fatalf("squeue-queue.cmd has no 16-digit nonce after Reason (%q): re-record", fixtureNonce)
	}
	return fixtureNonce
}

// parseClean parses recorded squeue output and fails the test if any record
// was dropped (real output of jobs with ordinary names has none).
func parseClean(t *testing.T, out []byte) []batch.JobStatus {
	t.Helper()
	jobs, bad := parseStatus(out, recordedNonce(t), time.UTC)
	for _, m := range bad {
		t.Errorf("record %d dropped: %v", m.Index, m.Err)
	}
	return jobs
}
