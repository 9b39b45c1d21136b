package pbs

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
	t.Run("one call: final states, and unknown ids as gone", func(t *testing.T) {
		r := newReplay(t, "", "qstat-status-mixed")
		ids := jobIDs(t, r.Fixtures[0])
		h, err := newTestScheduler(r).History(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		r.Done()
		for _, js := range h {
			if !js.State.Terminal() {
				t.Errorf("History lists live job %s %s (%s)", js.ID, js.Name, js.State)
			}
		}
		// completed, failed, killed, deleted-queued, deleted-running
		if len(h) != 5 {
			t.Errorf("History has %d jobs, want the 5 that ended: %v", len(h), h)
		}
	})
	t.Run("unknown ids are confirmed gone by qstat's word", func(t *testing.T) {
		r := newReplay(t, "", "qstat-status-live-and-unknown")
		h, err := newTestScheduler(r).History(ctx, jobIDs(t, r.Fixtures[0]))
		if err != nil {
			t.Fatal(err)
		}
		r.Done()
		if len(h) != 1 || h["99999.pbsserver"].Reason != Gone || h["99999.pbsserver"].State != batch.StateUnknown {
			t.Errorf("History = %+v, want only 99999.pbsserver as gone", h)
		}
	})
	t.Run("walltime", func(t *testing.T) {
		r := newReplay(t, "", "qstat-status-walltime")
		ids := jobIDs(t, r.Fixtures[0])
		h, err := newTestScheduler(r).History(ctx, ids)
		if err != nil || h[ids[0]].State != batch.StateTimeout {
			t.Errorf("History = %+v, %v", h, err)
		}
	})
	t.Run("a failed query is an error", func(t *testing.T) {
		r := newReplay(t, "", "qstat-server-down")
		if h, err := newTestScheduler(r).History(ctx, jobIDs(t, r.Fixtures[0])); err == nil {
			t.Errorf("History with the server down = %v", h)
		}
	})
}

func TestEstimateStart(t *testing.T) {
	r := newReplay(t, "", "qstat-status-mixed")
	ids := jobIDs(t, r.Fixtures[0])
	starts, err := newTestScheduler(r).EstimateStart(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	r.Done()
	// Only the job waiting for CPUs has an estimate.
	if len(starts) != 1 {
		t.Fatalf("EstimateStart = %v, want one estimate", starts)
	}
	for _, tm := range starts {
		if tm.Before(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("estimate %v", tm)
		}
	}
}

func TestQueueAndList(t *testing.T) {
	ctx := context.Background()
	r := newReplay(t, "", "qstat-queue")
	jobs, err := newTestScheduler(r).Queue(ctx)
	if err != nil {
		t.Fatal(err) // the output holds the odd-values job: invalid JSON repaired
	}
	r.Done()
	if n := bytes.Count(r.Fixtures[0].Stdout, []byte(`"Job_Name":`)); len(jobs) != n {
		t.Errorf("Queue parsed %d jobs of %d", len(jobs), n)
	}
	users := map[string]bool{}
	for i, js := range jobs {
		users[js.User] = true
		if js.State.Terminal() {
			t.Errorf("the queue lists ended job %s", js.ID)
		}
		if w, ok := wantByName[js.Name]; ok {
			checkJob(t, js, w)
		}
		if i > 0 && !lessID(jobs[i-1].ID, js.ID) {
			t.Errorf("jobs %s and %s out of order", jobs[i-1].ID, js.ID)
		}
	}
	if !users["alice"] || !users["bob"] {
		t.Errorf("queue users %v, want alice and bob", users)
	}

	for _, prefix := range []string{"hpcgate-rec-", "hpcgate-rec-held", "hpcgate-rec-bob", "nomatch"} {
		r := newReplay(t, "alice", "qstat-list-user")
		got, err := newTestScheduler(r).ListByName(ctx, "alice", prefix)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, js := range jobs {
			if js.User == "alice" && strings.HasPrefix(js.Name, prefix) {
				want++
			}
		}
		if len(got) != want {
			t.Errorf("ListByName(alice, %q) = %d jobs, want %d", prefix, len(got), want)
		}
		for _, js := range got {
			if js.User != "alice" || !strings.HasPrefix(js.Name, prefix) {
				t.Errorf("ListByName(alice, %q) returned %s %s of %s", prefix, js.ID, js.Name, js.User)
			}
		}
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
		{"qsub-ok", false, ""},
		{"qsub-hold", true, ""},
		{"qsub-unknown-queue", false, "qsub: Unknown queue"},
		{"qsub-queue-disabled", false, "qsub: Queue is not enabled"},
		{"qsub-too-many-cpus", false, "Job violates queue and/or server resource limits"},
		{"qsub-bad-walltime", false, "Illegal attribute or resource value"},
		{"qsub-bad-option", false, "unrecognized option '--nosuchoption'"},
		{"qsub-server-down", false, "cannot connect to server"},
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
			if !bytes.Equal(r.Calls[len(r.Calls)-1].Stdin, script) {
				t.Error("qsub's stdin is not the rendered script")
			}
			for _, c := range r.Calls {
				if strings.Contains(c.String(), "secret-token-123") {
					t.Errorf("the token is on a command line: %s", c)
				}
			}
		})
	}
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
		{fixture: "qdel-finished", user: "alice", ok: true},
		{fixture: "qdel-unknown", user: "alice", ok: true},
		{fixture: "qdel-other-user", user: "bob"},
		{fixture: "qrls-ok", user: "alice", release: true, ok: true},
		{fixture: "qrls-not-held", user: "alice", release: true, ok: true},
		{fixture: "qrls-unknown", user: "alice", release: true, notFound: true},
		{fixture: "qrls-finished", user: "alice", release: true},
		{fixture: "qrls-other-user", user: "bob", release: true},
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
			if err != nil && !strings.Contains(err.Error(), strings.TrimSpace(r.Fixtures[0].Stderr)) {
				t.Errorf("error %q lacks PBS's words %q", err, r.Fixtures[0].Stderr)
			}
		})
	}
	// A lost connection is not "already gone".
	lost := execFunc(func(context.Context, batch.Command) ([]byte, error) { return nil, errors.New("connection lost") })
	if err := New(lost, Options{}).Cancel(ctx, "alice", "5.pbsserver"); err == nil {
		t.Error("Cancel over a lost connection succeeded")
	}
}

type execFunc func(context.Context, batch.Command) ([]byte, error)

func (f execFunc) Run(ctx context.Context, c batch.Command) ([]byte, error) { return f(ctx, c) }

func TestBinDir(t *testing.T) {
	var got [][]string
	rec := execFunc(func(_ context.Context, c batch.Command) ([]byte, error) {
		got = append(got, c.Argv)
		return []byte("7.server\n"), nil
	})
	s := New(rec, Options{BinDir: "/opt/pbs/bin"})
	if _, err := s.Submit(context.Background(), testSpec()); err != nil {
		t.Fatal(err)
	}
	if got[0][0] != "mkdir" || got[1][0] != "/opt/pbs/bin/qsub" {
		t.Errorf("commands %q, want the system's mkdir and /opt/pbs/bin/qsub", got)
	}
}

func TestRecordedVersion(t *testing.T) {
	// The stand-in reproduces OpenPBS 22.05 (testdata/pbs).
	if v := strings.TrimSpace(string(loadFixture(t, "version").Stdout)); v != "pbs_version = 22.05.11" {
		t.Errorf("fixtures recorded with %q", v)
	}
}
