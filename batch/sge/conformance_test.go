package sge

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
				SubmitHostile:     hostileSubmitter(pool, c.Get(t, "SGE_BIN")),
			})
		})
	}
}

// hostileSubmitter submits, as bob, a held job named with the worst text
// qsub takes (it refuses control characters, whitespace, "/", ":", "@",
// "*" and "\\"): XML's special characters around a forged job number and
// state, and shell syntax. qstat escapes them, so the fake record stays
// text inside the name.
func hostileSubmitter(pool batch.Executor, bin string) func(ctx context.Context, forge string) (string, func(), error) {
	return func(ctx context.Context, forge string) (string, func(), error) {
		name := `hpcgate-hostile'"&amp;%lt;<JB_job_number>` + forge + `<state>dr<JB_owner>alice$(id);` + "`id`"
		out, err := pool.Run(ctx, batch.Command{User: "bob",
			Argv:  []string{bin + "/qsub", "-terse", "-h", "-N", name, "-o", "/dev/null", "-j", "y"},
			Stdin: []byte("#!/bin/sh\ntrue\n")})
		if err != nil {
			return "", nil, fmt.Errorf("qsub as bob: %w", err)
		}
		id := strings.TrimSpace(string(out))
		cancel := func() {
			pool.Run(context.Background(), batch.Command{User: "bob", Argv: []string{bin + "/qdel", id}})
		}
		return id, cancel, nil
	}
}
