package pbs

import (
	"testing"

	"hpcgate/batch"
	"hpcgate/batch/batchtest"
	"hpcgate/batch/sshexec"
	"hpcgate/batch/sshexec/sshtest"
)

// TestConformance runs the shared scheduler suite against the loopback
// cluster's PBS (the OpenPBS stand-in) through its real sshd, in both ways of acting as a user.
func TestConformance(t *testing.T) {
	c := batchtest.LoadCluster(t)
	for _, mode := range []sshexec.Mode{sshexec.ModeCertificate, sshexec.ModeSudo} {
		t.Run(string(mode), func(t *testing.T) {
			pool := sshtest.Pool(t, c, mode)
			batchtest.Conformance(t, func(t *testing.T, exec batch.Executor) batch.Scheduler {
				return New(exec, Options{BinDir: c.Get(t, "PBS_BIN")})
			}, batchtest.Options{
				Executor:          pool,
				Dial:              pool.DialContext,
				Partition:         "workq",
				BadPartitionWords: "Unknown queue",
				UnknownID:         "9999999.pbsserver",
				HoldReason:        "Held by the user",
			})
		})
	}
}
