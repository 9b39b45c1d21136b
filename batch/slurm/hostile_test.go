package slurm

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"hpcgate/batch"
)

// The hostile recordings (record.sh, "hostile job names"): bob's held jobs
// named with U+001E, U+001F, newlines, tabs, quotes and 300 to 1000 bytes,
// and with fake records claiming alice's held job hpcgate-rec-victim was
// CANCELLED, in hpcgate's old layout and in the new one with a guessed
// nonce; squeue's real answer to the status query for all of them.

// The old layout (every field ended by U+001F, records by U+001E) really is
// forged by these names: split naively, the output holds a well-formed
// record saying alice's pending job was cancelled. So the recording is a
// working attack, and the tests below mean something.
func TestHostileNamesForgeTheOldLayout(t *testing.T) {
	f := loadFixture(t, "squeue-status-hostile-old")
	victim := victimID(t)
	forged := false
	for _, rec := range bytes.Split(f.Stdout, []byte(recordSep)) {
		fields := strings.Split(strings.TrimPrefix(string(rec), "\n"), unitSep)
		// JobID Name UserName State ... NumCPUs: 13 fields.
		if len(fields) == 13 && fields[0] == victim && fields[2] == "alice" && fields[3] == "CANCELLED" {
			forged = true
		}
	}
	if !forged {
		t.Fatal("the old-layout recording holds no forged CANCELLED record for the victim: re-record")
	}
}

// victimID is alice's job in the hostile recording, found in the raw bytes
// (not through the parser under test): the record whose name is exactly
// hpcgate-rec-victim in the new layout.
func victimID(t *testing.T) string {
	t.Helper()
	out := string(loadFixture(t, "squeue-status-hostile").Stdout)
	n := fixtureNonce
	for _, rec := range strings.Split(out, recordSep+n) {
		if strings.Contains(rec, unitSep+n+"hpcgate-rec-victim"+unitSep+n) && strings.Contains(rec, unitSep+"alice"+unitSep) {
			id, _, _ := strings.Cut(strings.TrimPrefix(rec, "\n"), unitSep)
			if strings.HasPrefix(rec, "\n"+id) || strings.HasPrefix(rec, id) {
				return id
			}
		}
	}
	t.Fatal("no victim record in squeue-status-hostile")
	return ""
}

func TestHostileNamesStayInTheirRecord(t *testing.T) {
	r := newReplay(t, "", "squeue-status-hostile")
	ids := jobIDs(t, r.Fixtures[0])
	var logs bytes.Buffer
	s := New(r, Options{Location: time.UTC, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	s.nonce = func() string { return fixtureNonce }
	st, err := s.Status(context.Background(), ids)
	if err != nil {
		t.Fatalf("Status with hostile names: %v", err)
	}
	r.Done()
	if logs.Len() > 0 {
		t.Errorf("real records were dropped: %s", logs.String())
	}
	if len(st) != len(ids) {
		t.Fatalf("Status(%d ids) = %d jobs, want every one", len(ids), len(st))
	}
	victim := st[victimID(t)]
	if victim.User != "alice" || victim.Name != "hpcgate-rec-victim" || victim.State != batch.StatePending ||
		victim.RawState != "PENDING" || victim.Reason != "JobHeldUser" {
		t.Errorf("alice's job was forged: %+v", victim)
	}
	var ctl, forgedOld, forgedNew, long bool
	for id, js := range st {
		if id == victim.ID {
			continue
		}
		if js.User != "bob" || js.State != batch.StatePending || js.Reason != "JobHeldUser" || js.Submitted.IsZero() || js.Cores != 1 {
			t.Errorf("bob's hostile job %s parsed as %+v", id, js)
		}
		switch n := js.Name; {
		case strings.HasPrefix(n, "hpcgate-rec-hostile-ctl"+recordSep+unitSep+"\n\t\"'<b>&") && len(n) > 300:
			ctl = true
		case strings.HasPrefix(n, "x"+recordSep+"\n"+victim.ID+unitSep) && strings.Contains(n, "CANCELLED"):
			forgedOld = true
		case strings.HasPrefix(n, "y"+unitSep+"0123456789abcdef"+recordSep) && strings.Contains(n, "CANCELLED"):
			forgedNew = true
		case strings.HasPrefix(n, strings.Repeat("L", 1000)+recordSep+unitSep+"\n"):
			long = true
		}
	}
	if !ctl || !forgedOld || !forgedNew || !long {
		t.Errorf("hostile names not kept whole: control %v, old forgery %v, new forgery %v, 1000 bytes %v", ctl, forgedOld, forgedNew, long)
	}
}

// One malformed record costs only itself. Each case changes one record of
// the real hostile recording (the victim's, or a hostile one) the way a
// broken or hostile squeue could; the other records must come through.
func TestMalformedRecordCostsOnlyItself(t *testing.T) {
	out := string(loadFixture(t, "squeue-status-hostile").Stdout)
	n := fixtureNonce
	recs := strings.Split(out, recordSep+n)
	recs = recs[:len(recs)-1] // the final newline
	victim := victimID(t)
	vi := -1
	for i, rec := range recs {
		if strings.HasPrefix(strings.TrimPrefix(rec, "\n"), victim+unitSep) {
			vi = i
		}
	}
	if vi < 0 {
		t.Fatal("victim record not found")
	}
	join := func(rs []string) []byte { return []byte(strings.Join(rs, recordSep+n) + recordSep + n + "\n") }
	with := func(i int, rec string) []byte {
		rs := append([]string(nil), recs...)
		rs[i] = rec
		return join(rs)
	}
	v := recs[vi]
	tests := []struct {
		name    string
		out     []byte
		dropped int
		stub    bool // the victim's id is still readable: listed as unreadable
	}{
		{"state word not a word", with(vi, strings.Replace(v, unitSep+"PENDING"+unitSep, unitSep+"PEND ING"+unitSep, 1)), 1, true},
		{"owner not a user name", with(vi, strings.Replace(v, unitSep+"alice"+unitSep, unitSep+"al ice"+unitSep, 1)), 1, true},
		{"job id not an id", with(vi, strings.Replace(v, victim+unitSep, "-"+victim+unitSep, 1)), 1, false},
		{"a fixed field missing", with(vi, strings.Replace(v, unitSep+"debug", "", 1)), 1, true},
		{"separator nonce wrong", with(vi, strings.Replace(v, unitSep+n, unitSep+"0000000000000000", 1)), 1, true},
		{"time not a time", with(vi, strings.Replace(v, "T", " ", 1)), 1, true},
		{"record too long", with(vi, v+strings.Repeat("x", maxRecord)), 1, true},
		{"one job listed twice", join(append(append([]string(nil), recs...), v)), 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobs, bad := parseStatus(tt.out, n, time.UTC)
			want := len(recs) - 1
			if tt.stub {
				want++
			}
			if len(bad) != tt.dropped || len(jobs) != want {
				t.Fatalf("kept %d, dropped %v; want %d kept, %d dropped", len(jobs), bad, want, tt.dropped)
			}
			stub := false
			for _, js := range jobs {
				switch {
				case js.ID != victim:
					if js.State != batch.StatePending || js.User == "" {
						t.Errorf("another record was affected: %+v", js)
					}
				case js.State != batch.StateUnrecognised || js.User != "" || js.Name != "":
					t.Errorf("the broken record was read: %+v", js)
				default:
					stub = true
				}
			}
			if stub != tt.stub {
				t.Errorf("victim listed as unreadable: %v, want %v", stub, tt.stub)
			}
			for _, m := range bad {
				if len(m.Err.Error()) > 200 {
					t.Errorf("error not bounded (%d bytes): %.300s", len(m.Err.Error()), m.Err)
				}
			}
		})
	}
}

// A dropped record is logged in one bounded line, and the poll goes on.
func TestMalformedRecordLogged(t *testing.T) {
	f := loadFixture(t, "squeue-status-hostile")
	out := bytes.Replace(f.Stdout, []byte(unitSep+"PENDING"+unitSep), []byte(unitSep+"?"+strings.Repeat("\x1e", 10000)+unitSep), -1)
	r := newReplay(t, "", "squeue-status-hostile")
	r.Fixtures[0].Stdout = out
	var logs bytes.Buffer
	s := New(r, Options{Location: time.UTC, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	s.nonce = func() string { return fixtureNonce }
	ids := jobIDs(t, r.Fixtures[0])
	st, err := s.Status(context.Background(), ids)
	if err != nil || len(st) != len(ids) {
		t.Fatalf("Status = %v, %v; want every job listed, unreadable, and no error", st, err)
	}
	for id, js := range st {
		if js.State != batch.StateUnrecognised || js.User != "" {
			t.Errorf("malformed record of job %s read as %+v", id, js)
		}
	}
	if lines := strings.Count(logs.String(), "\n"); lines != 1 || logs.Len() > 2048 || !strings.Contains(logs.String(), "dropped=5") {
		t.Errorf("log: %d lines, %d bytes, want one bounded line with dropped=5: %.400s", lines, logs.Len(), logs.String())
	}
}
