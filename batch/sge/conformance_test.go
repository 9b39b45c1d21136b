package sge

import (
	"testing"

	"hpcgate/batch"
	"hpcgate/batch/batchtest"
	"hpcgate/batch/sshexec"
	"hpcgate/batch/sshexec/sshtest"
)

// TestConformance runs the shared scheduler suite against the loopback
// cluster's real Grid Engine (testdata/cluster/sge.sh) through its real
// sshd, in both ways of acting as a user.
func TestConformance(t *testing.T) {
	c := batchtest.LoadCluster(t)
	for _, mode := range []sshexec.Mode{sshexec.ModeCertificate, sshexec.ModeSudo} {
		t.Run(string(mode), func(t *testing.T) {
			pool := sshtest.Pool(t, c, mode)
			batchtest.Conformance(t, func(t *testing.T, exec batch.Executor) batch.Scheduler {
				s, err := New(exec, Options{BinDir: c.Get(t, "SGE_BIN")})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}, batchtest.Options{
				Executor:          pool,
				Dial:              pool.DialContext,
				Partition:         "all.q",
				BadPartitionWords: `job requests unknown queue "nosuch"`,
				UnknownID:         "9999999",
				HoldReason:        ReasonHeld,
			})
		})
	}
}
