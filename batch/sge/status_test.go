package sge

import (
	"bytes"
	"testing"
	"time"

	"hpcgate/batch"
)

type wantJob struct {
	user, raw string
	state     batch.State
	reason    string
	node      string
	partition string
	cores     int
	limit     time.Duration
	started   bool
}

// wantByName: what record.sh made each job do, as qstat -xml -r lists it.
var wantByName = map[string]wantJob{
	"hpcgate-rec-running":   {user: "bob", raw: "r", state: batch.StateRunning, node: "localhost", partition: "all.q", cores: 2, limit: 30 * time.Minute, started: true},
	"hpcgate-rec-suspended": {user: "alice", raw: "s", state: batch.StatePending, reason: ReasonSuspended, node: "localhost", partition: "all.q", cores: 1, started: true},
	"hpcgate-rec-deleting":  {user: "alice", raw: "dr", state: batch.StateCompleting, reason: ReasonDeleting, node: "localhost", partition: "all.q", cores: 1, started: true},
	"hpcgate-rec-gpu":       {user: "bob", raw: "qw", state: batch.StatePending, cores: 1},
	"hpcgate-rec-eqw":       {user: "bob", raw: "Eqw", state: batch.StatePending, reason: ReasonError, cores: 1},
	"hpcgate-rec-held":      {user: "alice", raw: "hqw", state: batch.StatePending, reason: ReasonHeld, cores: 1},
	// Names qstat escapes, read back as qsub took them; "<" is the one
	// 8.1.9 gets wrong ("%lt;"), reported as written.
	`quo'te"d`:       {user: "alice", raw: "hqw", state: batch.StatePending, reason: ReasonHeld, cores: 1},
	"amp&lt;x":       {user: "alice", raw: "hqw", state: batch.StatePending, reason: ReasonHeld, cores: 1},
	"]]>cdata":       {user: "alice", raw: "hqw", state: batch.StatePending, reason: ReasonHeld, cores: 1},
	"evil%lt;&>name": {user: "alice", raw: "hqw", state: batch.StatePending, reason: ReasonHeld, cores: 1},
}

func checkJob(t *testing.T, js batch.JobStatus, w wantJob) {
	t.Helper()
	if js.User != w.user || js.RawState != w.raw || js.State != w.state || js.Reason != w.reason ||
		js.Node != w.node || js.Partition != w.partition || js.Cores != w.cores || js.TimeLimit != w.limit {
		t.Errorf("job %s %q:\n got  %+v\n want %+v", js.ID, js.Name, js, w)
	}
	if js.Started.IsZero() == w.started {
		t.Errorf("job %s %q: started %v, want a start time: %v", js.ID, js.Name, js.Started, w.started)
	}
	if !w.started && js.Submitted.IsZero() {
		t.Errorf("pending job %s %q has no submit time", js.ID, js.Name)
	}
}

func TestParseList(t *testing.T) {
	f := loadFixture(t, "qstat-list-all")
	jobs, _, err := parseList(f.Stdout, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(f.Stdout, []byte("<job_list ")); len(jobs) != n || n != len(wantByName) {
		t.Errorf("parsed %d jobs of %d listed, want %d", len(jobs), n, len(wantByName))
	}
	seen := map[string]bool{}
	for _, js := range jobs {
		w, ok := wantByName[js.Name]
		if !ok {
			t.Errorf("job %s has unexpected name %q", js.ID, js.Name)
			continue
		}
		seen[js.Name] = true
		checkJob(t, js, w)
	}
	for name := range wantByName {
		if !seen[name] {
			t.Errorf("no job named %q", name)
		}
	}
}

// TestParseListDamaged: a field that does not parse costs only that field;
// XML that is not well-formed fails the whole listing, never parts of it.
func TestParseListDamaged(t *testing.T) {
	out := loadFixture(t, "qstat-list-all").Stdout
	good, _, err := parseList(out, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("bad fields", func(t *testing.T) {
		bad := bytes.ReplaceAll(out, []byte("<slots>1</slots>"), []byte("<slots>one</slots>"))
		bad = bytes.Replace(bad, []byte("<JB_submission_time>"), []byte("<JB_submission_time>noon "), 1)
		jobs, dropped, err := parseList(bad, time.UTC)
		if err != nil || len(jobs) != len(good) || dropped != 0 {
			t.Fatalf("parseList = %d jobs, %v; want %d", len(jobs), err, len(good))
		}
		for i, js := range jobs {
			if js.State != good[i].State || js.ID != good[i].ID || js.Name != good[i].Name {
				t.Errorf("job %d: %+v, want state, id and name of %+v", i, js, good[i])
			}
		}
	})
	t.Run("a record without a job number is dropped, alone", func(t *testing.T) {
		bad := bytes.Replace(out, []byte("<JB_job_number>"), []byte("<JB_job_number>x"), 1)
		jobs, dropped, err := parseList(bad, time.UTC)
		if err != nil || dropped != 1 || len(jobs) != len(good)-1 {
			t.Errorf("parseList = %d jobs, %d dropped, %v; want %d and 1", len(jobs), dropped, err, len(good)-1)
		}
	})
	for name, bad := range map[string][]byte{
		"truncated":      out[:len(out)/2],
		"unclosed name":  bytes.Replace(out, []byte("</JB_name>"), nil, 1),
		"not qstat":      []byte("error: something else\n"),
		"empty":          nil,
		"control in tag": bytes.Replace(out, []byte("<state>"), []byte("<st\x01ate>"), 1),
	} {
		if jobs, _, err := parseList(bad, time.UTC); err == nil {
			t.Errorf("%s: parseList = %d jobs, want an error", name, len(jobs))
		}
	}
}

func TestMapState(t *testing.T) {
	// Every combination qstat(1) documents for a job.
	tests := []struct {
		raw   string
		state batch.State
	}{
		{"qw", batch.StatePending}, {"hqw", batch.StatePending}, {"hRwq", batch.StatePending},
		{"r", batch.StateRunning}, {"t", batch.StateRunning}, {"Rr", batch.StateRunning}, {"Rt", batch.StateRunning},
		{"s", batch.StatePending}, {"ts", batch.StatePending}, {"S", batch.StatePending}, {"tS", batch.StatePending},
		{"T", batch.StatePending}, {"tT", batch.StatePending}, {"Rs", batch.StatePending}, {"RS", batch.StatePending},
		{"Eqw", batch.StatePending}, {"Ehqw", batch.StatePending}, {"EhRqw", batch.StatePending},
		{"dr", batch.StateCompleting}, {"dt", batch.StateCompleting}, {"dRr", batch.StateCompleting},
		{"ds", batch.StateCompleting}, {"dS", batch.StateCompleting}, {"dT", batch.StateCompleting},
		// Letters nobody documents: listed, so never taken for gone.
		{"", batch.StateUnrecognised}, {"zz", batch.StateUnrecognised}, {"X", batch.StateUnrecognised},
	}
	for _, tt := range tests {
		if got, _ := mapState(tt.raw); got != tt.state {
			t.Errorf("mapState(%q) = %s, want %s", tt.raw, got, tt.state)
		}
	}
}

func TestClean(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 10, "plain"},
		{"a\x1b[31mred\nline", 100, "a?[31mred?line"},
		{"bad\xffbyte", 100, "bad?byte"},
		{"ééé", 3, "é"}, // cut at a rune boundary
		{"abcdef", 4, "abcd"},
	}
	for _, tt := range tests {
		if got := clean(tt.in, tt.max); got != tt.want {
			t.Errorf("clean(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"1800", 30 * time.Minute}, {"72:01:00", 72*time.Hour + time.Minute}, {"1:30", 90 * time.Second},
		{"INFINITY", 0}, {"", 0}, {"1:2:3:4", 0}, {"-5", 0},
	}
	for _, tt := range tests {
		if got := parseDuration(tt.in); got != tt.want {
			t.Errorf("parseDuration(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
