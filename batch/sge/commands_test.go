package sge

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"hpcgate/batch"
)

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
		{"qsub-unknown-queue", false, `job requests unknown queue "nosuch"`},
		{"qsub-unknown-pe", false, `the requested parallel environment "nosuch" does not exist`},
		{"qsub-bad-walltime", false, `attribute "h_rt" is not a time value`},
		{"qsub-unknown-resource", false, `unknown resource "nosuchres"`},
		{"qsub-qmaster-down", false, "unable to send message to qmaster"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			r := newReplay(t, "alice", "mkdir-rundir", tt.fixture)
			s := newTestScheduler(t, r)
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
			script, err := batch.Script(s.opts.Templates, ScriptTemplate, spec, s.funcs)
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
		words    string // in the error; "" for none
		notFound bool
	}{
		{"qdel-ok", "", false},
		{"qdel-unknown", "", false}, // ended or never was: nothing to cancel
		{"qdel-other-user", "you do not have the necessary privileges", false},
		{"qdel-qmaster-down", `commlib error: got select error (Connection refused)` + "\n" + `unable to send message to qmaster`, false},
		{"qrls-ok", "", false},
		{"qrls-unknown", `denied: job "9999998" does not exist`, true},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			r := newReplay(t, "alice", tt.fixture)
			s := newTestScheduler(t, r)
			id := lastArg(t, tt.fixture)
			var err error
			if strings.HasPrefix(tt.fixture, "qdel") {
				err = s.Cancel(ctx, "alice", id)
			} else {
				err = s.Release(ctx, "alice", id)
			}
			r.Done()
			switch {
			case tt.words == "" && err != nil:
				t.Errorf("= %v, want no error", err)
			case tt.words != "" && (err == nil || !strings.Contains(err.Error(), tt.words)):
				t.Errorf("= %v, want an error saying %q", err, tt.words)
			case errors.Is(err, batch.ErrNotFound) != tt.notFound:
				t.Errorf("= %v; ErrNotFound: %v, want %v", err, errors.Is(err, batch.ErrNotFound), tt.notFound)
			}
		})
	}
	s := newTestScheduler(t, nil)
	for _, id := range []string{"", "0", "12.server", "1;id", "-1", "12345678901"} {
		if err := s.Cancel(ctx, "alice", id); err == nil {
			t.Errorf("Cancel(%q) ran", id)
		}
	}
}

func TestStatus(t *testing.T) {
	ctx := context.Background()
	ids := idsByName(t)
	t.Run("a job in error: its reason from a second command", func(t *testing.T) {
		r := newReplay(t, "", "qstat-list-all", "qstat-detail-error")
		asked := []string{ids["hpcgate-rec-running"], ids["hpcgate-rec-eqw"], ids["hpcgate-rec-held"], "9999998"}
		st, err := newTestScheduler(t, r).Status(ctx, asked)
		if err != nil {
			t.Fatal(err)
		}
		r.Done()
		if len(st) != 3 {
			t.Errorf("Status = %d jobs, want the 3 listed: %v", len(st), st)
		}
		eqw := st[ids["hpcgate-rec-eqw"]]
		want := ReasonError + `: error: can't open output file "/nonexistent/dir/x.log": No such file or directory`
		if eqw.Reason != want || eqw.State != batch.StatePending {
			t.Errorf("job in error: %+v, want pending with reason %q", eqw, want)
		}
		if st[ids["hpcgate-rec-held"]].Reason != ReasonHeld || st[ids["hpcgate-rec-running"]].State != batch.StateRunning {
			t.Errorf("Status = %+v", st)
		}
	})
	t.Run("no job in error: one command", func(t *testing.T) {
		r := newReplay(t, "", "qstat-list-all")
		st, err := newTestScheduler(t, r).Status(ctx, []string{ids["hpcgate-rec-deleting"], ids["hpcgate-rec-running"], ids["hpcgate-rec-deleting"]})
		if err != nil || len(st) != 2 {
			t.Fatalf("Status = %v, %v", st, err)
		}
		r.Done()
	})
	t.Run("qmaster down is an error", func(t *testing.T) {
		r := newReplay(t, "", "qstat-qmaster-down")
		if st, err := newTestScheduler(t, r).Status(ctx, []string{"1"}); err == nil || !strings.Contains(err.Error(), "unable to send message to qmaster") {
			t.Errorf("Status = %v, %v", st, err)
		}
	})
	t.Run("bad ids run nothing", func(t *testing.T) {
		if _, err := newTestScheduler(t, nil).Status(ctx, []string{"1", "2 3"}); err == nil {
			t.Error("Status accepted a bad id")
		}
	})
}

func TestHistory(t *testing.T) {
	ctx := context.Background()
	ended := []struct {
		fixture string
		state   batch.State
		exit    int
		reason  string
	}{
		{"qacct-completed", batch.StateCompleted, 0, ""},
		{"qacct-failed", batch.StateFailed, 3, "Exit status 3"},
		{"qacct-timeout", batch.StateTimeout, 143, "qmaster enforced h_rt, h_cpu, or h_vmem limit"},
		{"qacct-cancelled", batch.StateCancelled, 143, "Ended by signal 15"},
	}
	for _, tt := range ended {
		t.Run(tt.fixture, func(t *testing.T) {
			r := newReplay(t, "", tt.fixture)
			id := lastArg(t, tt.fixture)
			h, err := newTestScheduler(t, r).History(ctx, []string{id})
			if err != nil {
				t.Fatal(err)
			}
			r.Done()
			js := h[id]
			if len(h) != 1 || js.State != tt.state || js.ExitCode != tt.exit || js.Reason != tt.reason {
				t.Errorf("History = %+v, want %s exit %d reason %q", h, tt.state, tt.exit, tt.reason)
			}
			if js.User != "alice" || !strings.HasPrefix(js.Name, "hpcgate-rec-") || js.Ended.IsZero() || js.Ended.Location() != time.UTC {
				t.Errorf("History = %+v", js)
			}
		})
	}
	t.Run("deleted before it started: gone, by qstat's word", func(t *testing.T) {
		r := newReplay(t, "", "qacct-unknown", "qstat-detail-deleted-pending")
		id := lastArg(t, "qacct-unknown")
		h, err := newTestScheduler(t, r).History(ctx, []string{id})
		if err != nil {
			t.Fatal(err)
		}
		r.Done()
		if len(h) != 1 || h[id].State != batch.StateUnknown || h[id].Reason != Gone {
			t.Errorf("History = %+v, want %s gone", h, id)
		}
	})
	t.Run("live jobs are not history; an id qstat leaves out is asked alone", func(t *testing.T) {
		r := newReplay(t, "", "qacct-held", "qacct-never", "qacct-running", "qstat-detail-mixed", "qstat-detail-unknown")
		asked := []string{lastArg(t, "qacct-held"), lastArg(t, "qacct-never"), lastArg(t, "qacct-running")}
		h, err := newTestScheduler(t, r).History(ctx, asked)
		if err != nil {
			t.Fatal(err)
		}
		r.Done()
		if len(h) != 1 || h["9999998"].Reason != Gone {
			t.Errorf("History = %+v, want only 9999998 as gone", h)
		}
	})
	t.Run("several unknown ids in one answer", func(t *testing.T) {
		known, unknown, err := parseDetail(loadFixture(t, "qstat-detail-unknown-many").Stdout)
		if err != nil || len(known) != 0 || strings.Join(unknown, ",") != "9999998,9999997" {
			t.Errorf("parseDetail = %v, %v, %v", known, unknown, err)
		}
	})
	t.Run("the qmaster down does not stop qacct, nor hide its errors", func(t *testing.T) {
		r := newReplay(t, "", "qacct-never", "qstat-qmaster-down")
		r.Fixtures[1].Argv = []string{"qstat", "-xml", "-j", "9999998"} // same failure, whatever the query
		if h, err := newTestScheduler(t, r).History(ctx, []string{"9999998"}); err == nil {
			t.Errorf("History = %v, want an error", h)
		}
	})
}

func TestQueueAndList(t *testing.T) {
	ctx := context.Background()
	r := newReplay(t, "", "qstat-list-all")
	jobs, err := newTestScheduler(t, r).Queue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.Done()
	if len(jobs) != len(wantByName) {
		t.Errorf("Queue = %d jobs, want %d", len(jobs), len(wantByName))
	}
	for _, prefix := range []string{"hpcgate-rec-", "hpcgate-rec-held", "quo", "nomatch"} {
		r := newReplay(t, "alice", "qstat-list-user")
		got, err := newTestScheduler(t, r).ListByName(ctx, "alice", prefix)
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
	if _, err := newTestScheduler(t, nil).ListByName(ctx, "bad user", ""); err == nil {
		t.Error("ListByName accepted a bad user name")
	}
}
