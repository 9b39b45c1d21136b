package slurm

import (
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
			})
		})
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
