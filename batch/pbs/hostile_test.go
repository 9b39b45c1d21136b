package pbs

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"hpcgate/batch"
)

// The hostile recordings (record.sh, "hostile records"): alice's held job
// hpcgate-rec-victim; bob's held job whose -v variable names forge a
// well-formed record for the victim's id saying it finished with exit
// status 0 (OpenPBS prints keys unescaped); bob's job named
// '"hpcgate-rec-hostile\' (a leading quote and a trailing backslash that
// the printer leaves unescaped). ids[0] is the victim, ids[1] the forger,
// ids[2] the badly named job.

// The recording is a working attack: as one document it is not JSON (the
// old parser failed the whole poll), and cut into jobs it holds a second,
// well-formed record for the victim's id that says it completed.
func TestHostileRecordingIsAnAttack(t *testing.T) {
	f := loadFixture(t, "qstat-status-hostile")
	victim := jobIDs(t, f)[0]
	var doc map[string]any
	if err := json.Unmarshal(sanitize(f.Stdout), &doc); err == nil {
		t.Error("the hostile output is valid JSON as a whole: re-record")
	}
	var forged bool
	n := 0
	for _, p := range splitJobs(f.Stdout) {
		if p.id != victim {
			continue
		}
		n++
		if p.err == nil && p.a.str("job_state") == "F" && strings.HasPrefix(p.a.str("Job_Owner"), "alice@") {
			forged = true
		}
	}
	if n != 2 || !forged {
		t.Fatalf("victim %s has %d records, a well-formed forged one: %v; want 2 and true", victim, n, forged)
	}
}

func TestHostileRecordsCostOnlyThemselves(t *testing.T) {
	r := newReplay(t, "", "qstat-status-hostile")
	ids := jobIDs(t, r.Fixtures[0])
	var logs bytes.Buffer
	s := New(r, Options{Location: time.UTC, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	st, err := s.Status(context.Background(), ids)
	if err != nil {
		t.Fatalf("Status with hostile records: %v", err)
	}
	r.Done()
	// Every job is listed, so none is taken for gone.
	if len(st) != 3 {
		t.Fatalf("Status(%v) = %v, want all three listed", ids, st)
	}
	// The victim's id has two records, Slurm-style ambiguity: neither is
	// believed, and the hub acts on neither (no owner, unmapped state).
	if v := st[ids[0]]; v.State != batch.StateUnrecognised || v.User != "" || v.State.Terminal() {
		t.Errorf("victim %s: %+v; want unreadable, never the forged completion", ids[0], v)
	}
	// bob's jobs cost only themselves.
	for _, id := range ids[1:] {
		if js := st[id]; js.State != batch.StateUnrecognised || js.User != "" {
			t.Errorf("hostile job %s: %+v, want unreadable", id, js)
		}
	}
	if lines := strings.Count(logs.String(), "\n"); lines != 1 || logs.Len() > 2048 {
		t.Errorf("log: %d lines, %d bytes; want one bounded line: %.500s", lines, logs.Len(), logs.String())
	}
	// History, from the same kind of call, confirms nothing ended.
	r = newReplay(t, "", "qstat-status-hostile")
	h, err := New(r, Options{Location: time.UTC, Logger: slog.New(slog.NewTextHandler(&logs, nil))}).History(context.Background(), ids)
	if err != nil || len(h) != 0 {
		t.Errorf("History = %v, %v; want nothing ended", h, err)
	}
}

// Without bob's forger in the same call, the victim reads as it is: held.
// (The same recording, the forger's record removed line by line.)
func TestVictimAloneReadsTrue(t *testing.T) {
	f := loadFixture(t, "qstat-status-hostile")
	ids := jobIDs(t, f)
	pieces := splitJobs(f.Stdout)
	var real *piece
	for i := range pieces {
		if pieces[i].id == ids[0] && pieces[i].err == nil && pieces[i].a.str("job_state") == "H" {
			real = &pieces[i]
		}
	}
	if real == nil {
		t.Fatal("no well-formed held record for the victim")
	}
	js, err := real.status(time.UTC)
	if err != nil || js.User != "alice" || js.Name != "hpcgate-rec-victim" || js.State != batch.StatePending {
		t.Errorf("victim's own record: %+v, %v", js, err)
	}
}

// The whole queue with the hostile jobs in it: every other job is read.
func TestQueueWithHostileRecords(t *testing.T) {
	r := newReplay(t, "", "qstat-queue-hostile")
	var logs bytes.Buffer
	s := New(r, Options{Location: time.UTC, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	jobs, err := s.Queue(context.Background())
	if err != nil {
		t.Fatalf("Queue with hostile records: %v", err)
	}
	r.Done()
	var read, unreadable int
	names := map[string]bool{}
	for _, js := range jobs {
		if js.User == "" {
			unreadable++
			continue
		}
		read++
		names[js.Name] = true
	}
	// The victim (two records), the forger (cut short) and the badly named
	// job; everything else reads.
	if unreadable != 3 || !names["hpcgate-rec-running"] || !names["hpcgate-rec-bob-long"] {
		t.Errorf("queue: %d read %v, %d unreadable; want 3 unreadable and the others read", read, names, unreadable)
	}
}
