package pbs

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
				SubmitHostile:     hostileSubmitter(pool, c.Get(t, "PBS_BIN")),
			})
		})
	}
}

// hostileSubmitter submits, as bob, a held job whose record OpenPBS prints
// as invalid JSON: named with a leading quote and a trailing backslash, and
// with a variable name holding quotes, braces and a newline (printed
// unescaped). It does not forge the suite's job id: a forged duplicate
// makes that job unreadable, which the hub leaves alone, and the suite
// checks the job reads true.
func hostileSubmitter(pool batch.Executor, bin string) func(ctx context.Context, forge string) (string, func(), error) {
	return func(ctx context.Context, forge string) (string, func(), error) {
		out, err := pool.Run(ctx, batch.Command{User: "bob",
			Argv: []string{bin + "/qsub", "-h", "-N", `"hpcgate-hostile\`, "-j", "oe", "-o", "/dev/null",
				"-v", "K\"}{\n  \"job_state=F"},
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
