package batchtest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"hpcgate/batch"
)

// Fixture is one command recorded from a real scheduler by a record.sh
// (testdata/slurm, testdata/pbs-fixtures): its argv, and what it printed and
// returned.
type Fixture struct {
	Name   string
	Argv   []string
	Stdout []byte
	Stderr string
	RC     int
}

// LoadFixture reads NAME.cmd (one argument per line), NAME.out, NAME.err
// and NAME.rc from dir.
func LoadFixture(t testing.TB, dir, name string) Fixture {
	t.Helper()
	read := func(ext string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name+ext))
		if err != nil {
			t.Fatalf("fixture %s: %v (re-record with %s/record.sh)", name, err, dir)
		}
		return b
	}
	rc, err := strconv.Atoi(strings.TrimSpace(string(read(".rc"))))
	if err != nil {
		t.Fatalf("fixture %s: bad .rc: %v", name, err)
	}
	return Fixture{
		Name:   name,
		Argv:   strings.Split(strings.TrimSuffix(string(read(".cmd")), "\n"), "\n"),
		Stdout: read(".out"),
		Stderr: string(read(".err")),
		RC:     rc,
	}
}

// Result is what an Executor returns for the recorded command: its stdout,
// and for a non-zero exit a *batch.CommandError with its stderr, as sshexec
// does.
func (f Fixture) Result(argv []string) ([]byte, error) {
	if f.RC != 0 {
		return f.Stdout, &batch.CommandError{Argv: argv, ExitCode: f.RC, Stderr: f.Stderr}
	}
	return f.Stdout, nil
}

// Replay is an Executor that answers each command with the next recorded
// fixture, after checking the command is exactly the recorded one and runs
// as the expected user, so the adapter's argv and its record.sh stay the
// same.
type Replay struct {
	T        *testing.T
	Fixtures []Fixture
	Users    []string // Command.User expected for each fixture
	Calls    []batch.Command
}

// NewReplay loads the named fixtures from dir; every command is expected to
// run as user.
func NewReplay(t *testing.T, dir, user string, names ...string) *Replay {
	r := &Replay{T: t}
	for _, n := range names {
		r.Fixtures = append(r.Fixtures, LoadFixture(t, dir, n))
		r.Users = append(r.Users, user)
	}
	return r
}

// Run answers cmd with the next fixture.
func (r *Replay) Run(_ context.Context, cmd batch.Command) ([]byte, error) {
	r.T.Helper()
	i := len(r.Calls)
	r.Calls = append(r.Calls, cmd)
	if i >= len(r.Fixtures) {
		r.T.Fatalf("unexpected command %d: %q", i+1, cmd.Argv)
	}
	f := r.Fixtures[i]
	if !slices.Equal(cmd.Argv, f.Argv) {
		r.T.Errorf("command %d is\n  %q\nbut fixture %s recorded\n  %q", i+1, cmd.Argv, f.Name, f.Argv)
	}
	if cmd.User != r.Users[i] {
		r.T.Errorf("command %d (%s) runs as %q, want %q", i+1, f.Name, cmd.User, r.Users[i])
	}
	return f.Result(cmd.Argv)
}

// Done checks every fixture was asked for.
func (r *Replay) Done() {
	r.T.Helper()
	if len(r.Calls) != len(r.Fixtures) {
		r.T.Errorf("ran %d commands, want %d (one per fixture)", len(r.Calls), len(r.Fixtures))
	}
}
