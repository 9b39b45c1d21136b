package pbs

import (
	"slices"
	"testing"
	"time"

	"hpcgate/batch"
	"hpcgate/batch/batchtest"
)

// fixtureDir holds outputs recorded from the OpenPBS stand-in by
// testdata/pbs-fixtures/record.sh, and samples of real PBS servers
// (*-upstream-sample.*).
const fixtureDir = "../../testdata/pbs-fixtures"

func loadFixture(t *testing.T, name string) batchtest.Fixture {
	t.Helper()
	return batchtest.LoadFixture(t, fixtureDir, name)
}

// newReplay answers with the named fixtures, each run as user ("" is the
// hub's service account, as which record.sh ran the queries).
func newReplay(t *testing.T, user string, names ...string) *batchtest.Replay {
	return batchtest.NewReplay(t, fixtureDir, user, names...)
}

// jobIDs are the ids a recorded qstat was asked about: the arguments after
// -x.
func jobIDs(t *testing.T, f batchtest.Fixture) []string {
	t.Helper()
	i := slices.Index(f.Argv, "-x")
	if i < 0 || i == len(f.Argv)-1 {
		t.Fatalf("fixture %s: no ids after -x in %q", f.Name, f.Argv)
	}
	return f.Argv[i+1:]
}

// The fixtures were recorded with TZ=UTC (record.sh).
func newTestScheduler(exec batch.Executor) *Scheduler {
	return New(exec, Options{Location: time.UTC})
}
