package pbs

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hpcgate/batch"
)

// want is what each recorded job was made to do (record.sh), by job name.
type want struct {
	state    batch.State
	reason   string // prefix of the Reason
	exit     int
	node     bool // runs or ran on a node
	estimate bool // pending with an estimated start
}

var wantByName = map[string]want{
	"hpcgate-rec-walltime":        {state: batch.StateRunning, node: true},
	"hpcgate-rec-completed":       {state: batch.StateCompleted, node: true},
	"hpcgate-rec-failed":          {state: batch.StateFailed, reason: "Exit status 3", exit: 3, node: true},
	"hpcgate-rec-killed":          {state: batch.StateFailed, reason: "Killed by signal 9", exit: 137, node: true},
	"hpcgate-rec-deleted-queued":  {state: batch.StateCancelled},
	"hpcgate-rec-deleted-running": {state: batch.StateCancelled, exit: 143, node: true},
	"hpcgate-rec-running":         {state: batch.StateRunning, node: true},
	"hpcgate-rec-blocked":         {state: batch.StatePending, reason: "Not Running: Insufficient amount of resource: ncpus", estimate: true},
	"hpcgate-rec-held":            {state: batch.StatePending, reason: "Held by the user"},
	"hpcgate-rec-held-later":      {state: batch.StatePending, reason: "Job held by alice on "},
	"hpcgate-rec-waiting":         {state: batch.StatePending, reason: "Waiting until "},
	"hpcgate-rec-stopped-queue":   {state: batch.StatePending},
	"hpcgate-rec-bob-long":        {state: batch.StatePending, reason: "Held by the user"},
	"hpcgate-rec-odd-values":      {state: batch.StatePending, reason: "Held by the user"},
}

func checkJob(t *testing.T, js batch.JobStatus, w want) {
	t.Helper()
	if js.State != w.state || !strings.HasPrefix(js.Reason, w.reason) || (w.reason == "" && js.Reason != "") || js.ExitCode != w.exit {
		t.Errorf("job %s %s: state %s reason %q exit %d, want %s %q… %d (raw %s)",
			js.ID, js.Name, js.State, js.Reason, js.ExitCode, w.state, w.reason, w.exit, js.RawState)
	}
	if (js.Node != "") != w.node {
		t.Errorf("job %s %s: node %q, want a node: %v", js.ID, js.Name, js.Node, w.node)
	}
	if (!js.EstimatedStart.IsZero()) != w.estimate {
		t.Errorf("job %s %s: estimated start %v, want one: %v", js.ID, js.Name, js.EstimatedStart, w.estimate)
	}
	if js.Submitted.IsZero() || js.Cores < 1 || js.Partition == "" || js.User == "" {
		t.Errorf("job %s %s: missing submit time, cores, queue or user: %+v", js.ID, js.Name, js)
	}
	switch {
	case w.node && js.Started.IsZero():
		t.Errorf("job %s %s ran but has no start time", js.ID, js.Name)
	case js.State.Terminal() && js.Ended.IsZero():
		t.Errorf("job %s %s ended but has no end time", js.ID, js.Name)
	case !js.State.Terminal() && !js.Ended.IsZero():
		t.Errorf("job %s %s has not ended but has end time %v", js.ID, js.Name, js.Ended)
	}
}

func TestStatusRecordedStates(t *testing.T) {
	for _, name := range []string{"qstat-status-mixed", "qstat-status-pending", "qstat-status-odd-values"} {
		t.Run(name, func(t *testing.T) {
			r := newReplay(t, "", name)
			ids := jobIDs(t, r.Fixtures[0])
			st, err := newTestScheduler(r).Status(context.Background(), ids)
			if err != nil {
				t.Fatal(err)
			}
			r.Done()
			if len(st) != len(ids) {
				t.Errorf("Status(%d ids) listed %d jobs", len(ids), len(st))
			}
			for _, id := range ids {
				js, ok := st[id]
				if !ok {
					t.Errorf("job %s missing", id)
					continue
				}
				w, known := wantByName[js.Name]
				if !known {
					t.Errorf("job %s has unexpected name %q", id, js.Name)
					continue
				}
				checkJob(t, js, w)
			}
		})
	}
}

func TestStatusDetails(t *testing.T) {
	r := newReplay(t, "", "qstat-status-mixed")
	st, err := newTestScheduler(r).Status(context.Background(), jobIDs(t, r.Fixtures[0]))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]batch.JobStatus{}
	for _, js := range st {
		byName[js.Name] = js
	}
	bob := byName["hpcgate-rec-bob-long"]
	if bob.User != "bob" || bob.Partition != "long" || bob.TimeLimit != 48*time.Hour || bob.Cores != 2 || bob.RawState != "H" {
		t.Errorf("bob's job: %+v", bob)
	}
	blocked := byName["hpcgate-rec-blocked"]
	if !blocked.EstimatedStart.After(blocked.Submitted) || blocked.TimeLimit != 10*time.Minute || blocked.Cores != 2 {
		t.Errorf("blocked job: %+v", blocked)
	}
	if run := byName["hpcgate-rec-running"]; run.Node != "localhost" || run.TimeLimit != 30*time.Minute {
		t.Errorf("running job: %+v", run)
	}
}

func TestStatusWalltime(t *testing.T) {
	r := newReplay(t, "", "qstat-status-walltime")
	ids := jobIDs(t, r.Fixtures[0])
	st, err := newTestScheduler(r).Status(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	js := st[ids[0]]
	// PBS's comment says what happened: "job killed: walltime 21 exceeded limit 20".
	if js.State != batch.StateTimeout || js.ExitCode != -29 || !strings.Contains(js.Reason, "walltime") || js.TimeLimit != 20*time.Second {
		t.Errorf("walltime job: %+v", js)
	}
}

func TestStatusUnknownIDs(t *testing.T) {
	tests := []struct {
		fixture string
		listed  int
	}{
		// Exit 153, the known jobs' JSON on stdout, one stderr line per
		// unknown id.
		{"qstat-status-unknown", 0},
		{"qstat-status-unknown-many", 0},
		{"qstat-status-live-and-unknown", 2},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			r := newReplay(t, "", tt.fixture)
			ids := jobIDs(t, r.Fixtures[0])
			st, err := newTestScheduler(r).Status(context.Background(), ids)
			if err != nil {
				t.Fatalf("Status: %v", err)
			}
			r.Done()
			if len(st) != tt.listed {
				t.Errorf("Status(%v) = %d jobs, want %d", ids, len(st), tt.listed)
			}
			for id := range st {
				if strings.HasPrefix(id, "9999") {
					t.Errorf("unknown id %s is listed", id)
				}
			}
		})
	}
}

// The hub may hold an id without its server suffix; qstat answers with the
// full one.
func TestStatusShortID(t *testing.T) {
	r := newReplay(t, "", "qstat-status-short-id")
	ids := jobIDs(t, r.Fixtures[0])
	st, err := newTestScheduler(r).Status(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	if js, ok := st[ids[0]]; !ok || js.ID != ids[0] || js.Name != "hpcgate-rec-held" {
		t.Errorf("Status(%s) = %+v", ids[0], st)
	}
}

func TestStatusErrors(t *testing.T) {
	tests := []struct {
		fixture, words string
	}{
		{"qstat-server-down", "cannot connect to server"},
	}
	for _, tt := range tests {
		r := newReplay(t, "", tt.fixture)
		st, err := newTestScheduler(r).Status(context.Background(), jobIDs(t, r.Fixtures[0]))
		var ce *batch.CommandError
		if !errors.As(err, &ce) || st != nil || !strings.Contains(err.Error(), tt.words) {
			t.Errorf("%s: Status = %v, %v; want an error saying %q", tt.fixture, st, err, tt.words)
		}
	}
	// A 153 whose stderr names something else than the ids asked for is a
	// real error, not a partial answer.
	r := newReplay(t, "", "qstat-status-unknown")
	r.Fixtures[0].Argv = statusQuery([]string{"5.pbsserver"})
	if st, err := newTestScheduler(r).Status(context.Background(), []string{"5.pbsserver"}); err == nil {
		t.Errorf("Status with a stderr naming another id = %v, want an error", st)
	}
}

func TestStatusRejectsBadIDs(t *testing.T) {
	for _, id := range []string{"", "-x", "12;rm", "12 13", "abc", "12.", ".pbs"} {
		r := newReplay(t, "")
		if _, err := newTestScheduler(r).Status(context.Background(), []string{"5.pbsserver", id}); err == nil {
			t.Errorf("Status accepted id %q", id)
		}
		r.Done()
	}
}

// Real PBS servers' answers (OpenPBS 19.0.0 and PBS Pro 2024.1), checked
// against what they show.
func TestUpstreamSamples(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(fixtureDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	parse := func(name string) batch.JobStatus {
		pieces := splitJobs(read(name))
		if len(pieces) != 1 {
			t.Fatalf("%s: %d jobs, want 1", name, len(pieces))
		}
		js, err := pieces[0].status(time.UTC)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return js
	}
	held := parse("qstat-json-held-upstream-sample.json")
	if held.ID != "157.pbs" || held.Name != "pbs_hold_job" || held.User != "pbsuser" || held.State != batch.StatePending ||
		held.Reason != "Held by the user" || held.TimeLimit != 2*time.Minute || held.Cores != 1 ||
		!held.Submitted.Equal(time.Date(2021, 8, 20, 23, 14, 8, 0, time.UTC)) {
		t.Errorf("held sample: %+v", held)
	}
	run := parse("qstat-json-running-upstream-sample.json")
	if run.State != batch.StateRunning || run.Node != "charon24" || run.Cores != 4 || run.User != "jan_brezina" ||
		run.Partition != "charon_2h" || !run.Started.Equal(time.Date(2022, 10, 4, 21, 23, 33, 0, time.UTC)) {
		t.Errorf("running sample: %+v", run)
	}

	// PBS Pro 2024 without -x: exit 35, the header on stdout, the job named
	// on stderr as finished, which History takes as its end.
	f := loadFixture(t, "qstat-finished-upstream-sample")
	id := "5487654.polaris-pbs-01.hsn.cm.polaris.alcf.anl.gov"
	f.Argv = statusQuery([]string{id})
	r := newReplay(t, "")
	r.Fixtures, r.Users = append(r.Fixtures, f), append(r.Users, "")
	h, err := newTestScheduler(r).History(context.Background(), []string{id})
	if err != nil || h[id].State != batch.StateUnknown || h[id].Reason != Gone {
		t.Errorf("History from the finished sample = %+v, %v", h, err)
	}

	// "qstat: Unknown Job Id 256.sod-pbs" (OpenComposer PR #9).
	u := loadFixture(t, "qstat-unknown-upstream-sample")
	if m := reUnknown.FindStringSubmatch(strings.TrimSpace(u.Stderr)); m == nil || m[1] != "256.sod-pbs" {
		t.Errorf("the unknown-id pattern does not match real PBS's %q", u.Stderr)
	}

	ids := strings.Fields(string(read("qsub-ids-upstream-sample.txt")))
	for _, id := range ids {
		if !validID(id) {
			t.Errorf("real qsub id %q is rejected", id)
		}
	}
}

// The stand-in prints environment values the way released OpenPBS does:
// ".5", "123.", "inf", "nan" and "+5" bare. Go's decoder refuses that JSON;
// the adapter repairs it and keeps every other value.
func TestSanitize(t *testing.T) {
	raw := loadFixture(t, "qstat-status-odd-values").Stdout
	if json.Valid(raw) {
		t.Fatal("the recorded odd-values output is valid JSON: re-record, the case is lost")
	}
	var doc struct {
		Jobs map[string]struct {
			Vars     map[string]any `json:"Variable_List"`
			Priority json.Number
		}
	}
	if err := json.Unmarshal(sanitize(raw), &doc); err != nil {
		t.Fatalf("sanitized JSON: %v", err)
	}
	for _, j := range doc.Jobs {
		for k, want := range map[string]any{"DOT": ".5", "TRAIL": "123.", "INF": "inf", "NAN": "nan", "PLUS": "+5",
			"LZ": "007", "EXP": 1e5, "NEG": -3.0, "SP": 12.0, "PBS_O_HOME": "/home/alice"} {
			if j.Vars[k] != want {
				t.Errorf("%s = %#v, want %#v", k, j.Vars[k], want)
			}
		}
	}
	// Valid JSON passes through unchanged.
	for _, name := range []string{"qstat-json-held-upstream-sample.json", "qstat-json-running-upstream-sample.json"} {
		b, _ := os.ReadFile(filepath.Join(fixtureDir, name))
		if got := sanitize(b); string(got) != string(b) {
			t.Errorf("%s changed by sanitize", name)
		}
	}
	// Escapes JSON does not know keep their backslash; raw control bytes
	// are escaped.
	in := "{\"a\":\"x\\,y\\'z\",\"b\":\"1\t2\"}"
	var m map[string]string
	if err := json.Unmarshal(sanitize([]byte(in)), &m); err != nil || m["a"] != `x\,y\'z` || m["b"] != "1\t2" {
		t.Errorf("sanitize(%q) = %q (%v)", in, sanitize([]byte(in)), err)
	}
}

func TestFinalState(t *testing.T) {
	tests := []struct {
		substate, exit int
		hasExit        bool
		want           batch.State
		code           int
	}{
		{92, 0, true, batch.StateCompleted, 0},
		{93, 3, true, batch.StateFailed, 3},
		{93, 265, true, batch.StateFailed, 137},
		{91, 271, true, batch.StateCancelled, 143},
		{91, 143, true, batch.StateCancelled, 143},
		{91, 0, false, batch.StateCancelled, 0},
		{93, -29, true, batch.StateTimeout, -29},
		{93, -27, true, batch.StateFailed, -27},
		{93, -1, true, batch.StateFailed, -1},
		{92, 0, false, batch.StateFailed, 0},
	}
	for _, tt := range tests {
		st, code, reason := finalState(tt.substate, tt.exit, tt.hasExit, "")
		if st != tt.want || code != tt.code || (st != batch.StateCompleted && st != batch.StateCancelled && reason == "") {
			t.Errorf("finalState(%d, %d, %v) = %s %d %q; want %s %d", tt.substate, tt.exit, tt.hasExit, st, code, reason, tt.want, tt.code)
		}
	}
}

func TestParseWalltime(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"00:00:05": 5 * time.Second, "00:30:00": 30 * time.Minute, "48:00:00": 48 * time.Hour,
		"100:00:00": 100 * time.Hour, "10:00": 10 * time.Minute, "3600": time.Hour, "": 0,
	} {
		if got, err := parseWalltime(in); err != nil || got != want {
			t.Errorf("parseWalltime(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"x", "1:2:3:4", "-1:00"} {
		if _, err := parseWalltime(bad); err == nil {
			t.Errorf("parseWalltime(%q) succeeded", bad)
		}
	}
}
