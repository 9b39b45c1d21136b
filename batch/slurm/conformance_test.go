package slurm

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"hpcgate/batch"
	"hpcgate/batch/batchtest"
	"hpcgate/batch/sshexec"
	"hpcgate/batch/sshexec/sshtest"
)

// TestConformance runs the shared scheduler suite against the loopback
// cluster's Slurm through its real sshd, in both ways of acting as a user.
func TestConformance(t *testing.T) {
	c := batchtest.LoadCluster(t)
	for _, mode := range []sshexec.Mode{sshexec.ModeCertificate, sshexec.ModeSudo} {
		t.Run(string(mode), func(t *testing.T) {
			pool := sshtest.Pool(t, c, mode)
			batchtest.Conformance(t, func(t *testing.T, exec batch.Executor) batch.Scheduler {
				return New(exec, Options{})
			}, batchtest.Options{
				Executor:          pool,
				Dial:              pool.DialContext,
				Partition:         "debug",
				BadPartitionWords: "Invalid partition name specified",
				UnknownID:         "999999999",
				HoldReason:        "JobHeldUser",
				SubmitHostile:     hostileSubmitter(pool),
			})
		})
	}
}

// hostileSubmitter submits, as bob, a held job named with U+001E, U+001F,
// a newline, a tab, quotes and 300 bytes, holding a fake record (in the
// old layout and the new one with a guessed nonce) that claims the
// suite's job was cancelled.
func hostileSubmitter(pool batch.Executor) func(ctx context.Context, forge string) (string, func(), error) {
	return func(ctx context.Context, forge string) (string, func(), error) {
		const us, rs = "\x1f", "\x1e"
		fake := forge + us + "alice" + us + "CANCELLED" + us + "debug" + us + "n/a" + us + "0" +
			strings.Repeat(us+"2024-01-01T00:00:00", 3) + us + "1:00:00" + us + "1"
		name := "x" + rs + "\n" + fake + us + "0123456789abcdefhpcgate" + rs + "0123456789abcdef\n\t\"'" + strings.Repeat("A", 300)
		out, err := pool.Run(ctx, batch.Command{User: "bob", Argv: []string{
			"sbatch", "--parsable", "--hold", "--output=/dev/null", "--job-name=" + name, "--wrap=true"}})
		if err != nil {
			return "", nil, fmt.Errorf("sbatch as bob: %w", err)
		}
		id := strings.TrimSpace(string(out))
		cancel := func() {
			pool.Run(context.Background(), batch.Command{User: "bob", Argv: []string{"scancel", id}})
		}
		return id, cancel, nil
	}
}

// TestConformanceCoreOnly runs the suite on Slurm showing only the three
// methods of batch.Scheduler, as a new scheduler without any optional
// capability (release, history, listing, estimates) would: the suite must
// pass it without asking for them.
func TestConformanceCoreOnly(t *testing.T) {
	c := batchtest.LoadCluster(t)
	pool := sshtest.Pool(t, c, sshexec.ModeCertificate)
	batchtest.Conformance(t, func(t *testing.T, exec batch.Executor) batch.Scheduler {
		return struct{ batch.Scheduler }{New(exec, Options{})}
	}, batchtest.Options{
		Executor:  pool,
		Dial:      pool.DialContext,
		Partition: "debug",
		UnknownID: "999999999",
	})
}
