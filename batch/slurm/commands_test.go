package slurm

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"hpcgate/batch"
)

func TestHistory(t *testing.T) {
	ctx := context.Background()
	t.Run("ended jobs keep their final state", func(t *testing.T) {
		r := newReplay(t, "", "squeue-status-timeout")
		ids := jobIDs(t, r.Fixtures[0])
		h, err := newTestScheduler(r).History(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		r.Done()
		for _, id := range ids {
			if js, ok := h[id]; !ok || js.State != batch.StateTimeout {
				t.Errorf("History[%s] = %+v, %v; want its timeout", id, js, ok)
			}
		}
	})
	t.Run("live jobs are not history, forgotten ones are confirmed alone", func(t *testing.T) {
		// The multi-id query lists the live jobs and omits 999999; only
		// Slurm's answer about 999999 alone confirms it is gone.
		r := newReplay(t, "", "squeue-status-live-and-unknown", "squeue-status-unknown")
		ids := jobIDs(t, r.Fixtures[0])
		h, err := newTestScheduler(r).History(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		r.Done()
		if len(h) != 1 || h["999999"].State != batch.StateUnknown || h["999999"].Reason != Purged {
			t.Errorf("History(%v) = %+v, want only 999999 as purged", ids, h)
		}
	})
	t.Run("one forgotten id costs one command", func(t *testing.T) {
		r := newReplay(t, "", "squeue-status-unknown")
		h, err := newTestScheduler(r).History(ctx, jobIDs(t, r.Fixtures[0]))
		if err != nil {
			t.Fatal(err)
		}
		r.Done()
		if js, ok := h["999999"]; !ok || js.Reason != Purged {
			t.Errorf("History = %+v", h)
		}
	})
	t.Run("a failed query is an error", func(t *testing.T) {
		r := newReplay(t, "", "squeue-controller-down")
		if h, err := newTestScheduler(r).History(ctx, jobIDs(t, r.Fixtures[0])); err == nil {
			t.Errorf("History with the controller down = %v, want an error", h)
		}
	})
}

func TestEstimateStart(t *testing.T) {
	r := newReplay(t, "", "squeue-start")
	ids := jobIDs(t, r.Fixtures[0])
	starts, err := newTestScheduler(r).EstimateStart(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	r.Done()
	// The same moment in squeue --start's own layout: JOBID ... START_TIME.
	def := loadFixture(t, "squeue-start-default")
	want := map[string]time.Time{}
	for _, line := range strings.Split(string(def.Stdout), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 6 || f[5] == "N/A" {
			continue
		}
		tm, err := time.ParseInLocation("2006-01-02T15:04:05", f[5], time.UTC)
		if err != nil {
			t.Fatalf("squeue-start-default: %v", err)
		}
		want[f[0]] = tm
	}
	if len(want) == 0 {
		t.Fatal("squeue-start-default has no estimate: re-record")
	}
	if len(starts) != len(want) {
		t.Errorf("EstimateStart = %v, squeue --start says %v", starts, want)
	}
	for id, tm := range want {
		if !starts[id].Equal(tm) {
			t.Errorf("job %s: estimate %v, squeue --start says %v", id, starts[id], tm)
		}
	}

	r = newReplay(t, "", "squeue-start-unknown")
	starts, err = newTestScheduler(r).EstimateStart(context.Background(), jobIDs(t, r.Fixtures[0]))
	if err != nil || len(starts) != 0 {
		t.Errorf("EstimateStart(unknown) = %v, %v; want nothing", starts, err)
	}
}

func TestQueue(t *testing.T) {
	r := newReplay(t, "", "squeue-queue")
	jobs, err := newTestScheduler(r).Queue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r.Done()
	if n := bytes.Count(r.Fixtures[0].Stdout, []byte(recordSep+recordedNonce(t))); len(jobs) != n {
		t.Errorf("Queue parsed %d jobs from %d records", len(jobs), n)
	}
	users := map[string]bool{}
	for _, js := range jobs {
		users[js.User] = true
		if js.State.Terminal() {
			t.Errorf("the queue lists ended job %s (%s)", js.ID, js.RawState)
		}
		if w, ok := wantByName[js.Name]; ok {
			checkJob(t, js, w)
		}
	}
	if !users["alice"] || !users["bob"] {
		t.Errorf("the queue has users %v, want alice and bob", users)
	}
}

func TestListByName(t *testing.T) {
	raw := loadFixture(t, "squeue-list-user").Stdout
	for _, prefix := range []string{"hpcgate-rec-", "hpcgate-rec-held", "hpcgate-rec-held-", "nomatch"} {
		t.Run(prefix, func(t *testing.T) {
			r := newReplay(t, "alice", "squeue-list-user")
			jobs, err := newTestScheduler(r).ListByName(context.Background(), "alice", prefix)
			if err != nil {
				t.Fatal(err)
			}
			r.Done()
			for _, js := range jobs {
				if !strings.HasPrefix(js.Name, prefix) || js.User != "alice" {
					t.Errorf("ListByName(alice, %q) returned %s %s of %s", prefix, js.ID, js.Name, js.User)
				}
			}
			// The records with that name prefix in the raw output: a name
			// follows the unit separator and the nonce.
			want := strings.Count(string(raw), unitSep+recordedNonce(t)+prefix)
			if len(jobs) != want {
				t.Errorf("ListByName(alice, %q) found %d jobs, the output has %d", prefix, len(jobs), want)
			}
		})
	}
	if _, err := newTestScheduler(newReplay(t, "")).ListByName(context.Background(), "-u root", "x"); err == nil {
		t.Error("ListByName accepted a bad user name")
	}
}

func testSpec() batch.JobSpec {
	return batch.JobSpec{
		Name:     "hpcgate-alice-default-1",
		User:     "alice",
		Cores:    1,
		Walltime: time.Hour,
		App: batch.App{
			Argv: []string{"jupyterhub-singleuser", "--port={port}"},
			Env:  map[string]string{"JUPYTERHUB_API_TOKEN": "secret-token-123"},
		},
	}
}

func TestSubmit(t *testing.T) {
	tests := []struct {
		fixture string
		hold    bool
		words   string // in the error; "" for success
	}{
		{"sbatch-ok", false, ""},
		{"sbatch-hold", true, ""},
		{"sbatch-invalid-partition", false, "sbatch: error: Batch job submission failed: Invalid partition name specified"},
		{"sbatch-invalid-time", false, "sbatch: error: Invalid --time specification"},
		{"sbatch-bad-option", false, "unrecognized option '--nosuchoption'"},
		{"sbatch-mem-unavailable", false, "Requested node configuration is not available"},
		{"sbatch-controller-down", false, "Unable to contact slurm controller"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			r := newReplay(t, "alice", "mkdir-rundir", tt.fixture)
			s := newTestScheduler(r)
			spec := testSpec()
			spec.Hold = tt.hold
			id, err := s.Submit(context.Background(), spec)
			r.Done()
			if tt.words == "" {
				want := strings.TrimSpace(string(r.Fixtures[1].Stdout))
				if err != nil || id != want {
					t.Fatalf("Submit = %q, %v; want %q", id, err, want)
				}
			} else {
				var ce *batch.CommandError
				if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.words) {
					t.Fatalf("Submit = %q, %v; want a CommandError saying %q", id, err, tt.words)
				}
			}
			script, err := batch.Script(s.opts.Templates, ScriptTemplate, spec, scriptFuncs)
			if err != nil {
				t.Fatal(err)
			}
			sb := r.Calls[len(r.Calls)-1]
			if !bytes.Equal(sb.Stdin, script) {
				t.Errorf("sbatch's stdin is not the rendered script")
			}
			for _, c := range r.Calls {
				if strings.Contains(c.String(), "secret-token-123") {
					t.Errorf("the token is on a command line: %s", c)
				}
			}
		})
	}
	t.Run("invalid spec runs nothing", func(t *testing.T) {
		r := newReplay(t, "alice")
		spec := testSpec()
		spec.Partition = "debug; rm -rf ~"
		if _, err := newTestScheduler(r).Submit(context.Background(), spec); err == nil {
			t.Error("Submit accepted an invalid spec")
		}
		r.Done()
	})
}

func TestCancelAndRelease(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		fixture  string
		user     string
		release  bool
		ok       bool
		notFound bool
	}{
		{fixture: "scancel-finished", user: "alice", ok: true},
		{fixture: "scancel-unknown", user: "alice", ok: true},
		{fixture: "scancel-other-user", user: "bob"},
		{fixture: "scontrol-release-ok", user: "alice", release: true, ok: true},
		{fixture: "scontrol-release-not-held", user: "alice", release: true, ok: true},
		{fixture: "scontrol-release-unknown", user: "alice", release: true, notFound: true},
		{fixture: "scontrol-release-finished", user: "alice", release: true},
		{fixture: "scontrol-release-other-user", user: "bob", release: true},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			r := newReplay(t, tt.user, tt.fixture)
			argv := r.Fixtures[0].Argv
			id := argv[len(argv)-1]
			s := newTestScheduler(r)
			var err error
			if tt.release {
				err = s.Release(ctx, tt.user, id)
			} else {
				err = s.Cancel(ctx, tt.user, id)
			}
			r.Done()
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok: %v", err, tt.ok)
			}
			if errors.Is(err, batch.ErrNotFound) != tt.notFound {
				t.Errorf("err = %v, want ErrNotFound: %v", err, tt.notFound)
			}
			if err != nil {
				if stderr := strings.TrimSpace(r.Fixtures[0].Stderr); !strings.Contains(err.Error(), stderr) {
					t.Errorf("error %q lacks Slurm's words %q", err, stderr)
				}
			}
		})
	}
	if err := newTestScheduler(newReplay(t, "alice")).Cancel(ctx, "alice", "--me"); err == nil {
		t.Error("Cancel accepted id --me")
	}
}

func TestParseExitCode(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"0", 0}, {"768", 3}, {"9", 137}, {"15", 143}, {"36608", 143}, {"1", 129},
		{"3:0", 3}, {"0:15", 143}, {"N/A", 0},
	}
	for _, tt := range tests {
		if got, err := parseExitCode(tt.in); err != nil || got != tt.want {
			t.Errorf("parseExitCode(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"x", "-1", "1:x"} {
		if _, err := parseExitCode(bad); err == nil {
			t.Errorf("parseExitCode(%q) succeeded", bad)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"1:00", time.Minute}, {"10:00", 10 * time.Minute}, {"8:00:00", 8 * time.Hour},
		{"10:00:00", 10 * time.Hour}, {"2-00:00:00", 48 * time.Hour}, {"1-02:03:04", 26*time.Hour + 3*time.Minute + 4*time.Second},
		{"1-02", 26 * time.Hour}, {"1-02:03", 26*time.Hour + 3*time.Minute}, {"45", 45 * time.Minute},
		{"UNLIMITED", 0}, {"INVALID", 0},
	}
	for _, tt := range tests {
		if got, err := parseDuration(tt.in); err != nil || got != tt.want {
			t.Errorf("parseDuration(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"x", "1:2:3:4", "a-01:00:00", "1:-1"} {
		if _, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) succeeded", bad)
		}
	}
}

// Every state name of Slurm 22.05 (slurm_protocol_defs.c), base and flag.
func TestMapState(t *testing.T) {
	tests := []struct {
		raw, reason string
		want        batch.State
		wantReason  string
	}{
		{"PENDING", "Resources", batch.StatePending, "Resources"},
		{"CONFIGURING", "None", batch.StatePending, ""},
		{"REQUEUED", "BeginTime", batch.StatePending, "BeginTime"},
		{"REQUEUE_HOLD", "JobHeldUser", batch.StatePending, "JobHeldUser"},
		{"REQUEUE_FED", "None", batch.StatePending, ""},
		{"RESV_DEL_HOLD", "None", batch.StatePending, ""},
		{"SPECIAL_EXIT", "None", batch.StatePending, ""},
		{"SUSPENDED", "None", batch.StateUnrecognised, "Suspended"},
		{"STOPPED", "None", batch.StateUnrecognised, "Stopped"},
		{"RUNNING", "None", batch.StateRunning, ""},
		{"RESIZING", "None", batch.StateRunning, ""},
		{"SIGNALING", "None", batch.StateRunning, ""},
		{"COMPLETING", "None", batch.StateCompleting, ""},
		{"STAGE_OUT", "None", batch.StateCompleting, ""},
		{"COMPLETED", "None", batch.StateCompleted, ""},
		{"FAILED", "NonZeroExitCode", batch.StateFailed, "NonZeroExitCode"},
		{"NODE_FAIL", "None", batch.StateFailed, "Node fail"},
		{"OUT_OF_MEMORY", "None", batch.StateFailed, "Out of memory"},
		{"BOOT_FAIL", "None", batch.StateFailed, "Boot fail"},
		{"CANCELLED", "JobHeldUser", batch.StateCancelled, ""},
		{"CANCELLED by 2001", "", batch.StateCancelled, ""},
		{"REVOKED", "None", batch.StateCancelled, ""},
		{"PREEMPTED", "None", batch.StateCancelled, "Preempted"},
		{"TIMEOUT", "TimeLimit", batch.StateTimeout, "TimeLimit"},
		{"DEADLINE", "DeadLine", batch.StateTimeout, "Deadline"},
		{"SOMETHING_NEW", "Why", batch.StateUnrecognised, "Why"},
	}
	for _, tt := range tests {
		got, reason := mapState(tt.raw, tt.reason)
		if got != tt.want || reason != tt.wantReason {
			t.Errorf("mapState(%q, %q) = %s, %q; want %s, %q", tt.raw, tt.reason, got, reason, tt.want, tt.wantReason)
		}
	}
}

func TestParseJobID(t *testing.T) {
	for _, tt := range []struct{ in, want string }{{"42\n", "42"}, {"42;hpcgate-test\n", "42"}} {
		if got, err := parseJobID([]byte(tt.in)); err != nil || got != tt.want {
			t.Errorf("parseJobID(%q) = %q, %v", tt.in, got, err)
		}
	}
	for _, bad := range []string{"", "Submitted batch job 42", "x;y"} {
		if _, err := parseJobID([]byte(bad)); err == nil {
			t.Errorf("parseJobID(%q) succeeded", bad)
		}
	}
	// The recorded answer, too.
	if _, err := parseJobID(loadFixture(t, "sbatch-ok").Stdout); err != nil {
		t.Error(err)
	}
}

func TestRecordedVersion(t *testing.T) {
	// The fixtures describe Slurm 22.05; a re-recording with another
	// version must be looked at, not silently accepted.
	if v := strings.TrimSpace(string(loadFixture(t, "version").Stdout)); !strings.HasPrefix(v, "slurm-wlm 22.05.") && !strings.HasPrefix(v, "slurm 22.05.") {
		t.Errorf("fixtures recorded with %q, the parsers were checked against 22.05", v)
	}
}
