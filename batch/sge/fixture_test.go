package sge

import (
	"testing"
	"time"

	"hpcgate/batch"
	"hpcgate/batch/batchtest"
)

// fixtureDir holds real Grid Engine outputs recorded by
// testdata/record.sh.
const fixtureDir = "testdata"

func loadFixture(t *testing.T, name string) batchtest.Fixture {
	t.Helper()
	return batchtest.LoadFixture(t, fixtureDir, name)
}

// newReplay answers with the named fixtures, each run as user ("" is the
// hub's service account, as which record.sh ran the queries).
func newReplay(t *testing.T, user string, names ...string) *batchtest.Replay {
	return batchtest.NewReplay(t, fixtureDir, user, names...)
}

// The fixtures were recorded with TZ=UTC (record.sh).
func newTestScheduler(t *testing.T, exec batch.Executor) *Scheduler {
	t.Helper()
	s, err := New(exec, Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// lastArg is the job id a recorded qacct -j, qdel or qrls was about.
func lastArg(t *testing.T, name string) string {
	t.Helper()
	f := loadFixture(t, name)
	return f.Argv[len(f.Argv)-1]
}

// idsByName are the ids of the jobs in the recorded listing, by name.
func idsByName(t *testing.T) map[string]string {
	t.Helper()
	jobs, _, err := parseList(loadFixture(t, "qstat-list-all").Stdout, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, js := range jobs {
		ids[js.Name] = js.ID
	}
	return ids
}
