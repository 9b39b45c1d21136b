package slurm

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"hpcgate/batch"
	"hpcgate/batch/batchtest"
	"hpcgate/batch/sshexec"
	"hpcgate/batch/sshexec/sshtest"
)

// BenchmarkStatus measures one Status call for 1 to 1000 jobs over the
// pooled SSH connection to the loopback cluster. After warm-up it must cost
// one remote command and no SSH handshake per call, whatever the number of
// jobs (reported as cmds/op and handshakes/op).
func BenchmarkStatus(b *testing.B) {
	c := batchtest.LoadCluster(b)
	pool := sshtest.Pool(b, c, sshexec.ModeCertificate)
	ctx := context.Background()
	ids := submitHeld(b, pool, 1000)
	s := New(pool, Options{})
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("jobs=%d", n), func(b *testing.B) {
			q := ids[:n]
			if _, err := s.Status(ctx, q); err != nil { // warm-up: connect
				b.Fatal(err)
			}
			before := pool.Stats()
			ops := 0
			for b.Loop() {
				st, err := s.Status(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				if len(st) != n {
					b.Fatalf("Status of %d held jobs listed %d", n, len(st))
				}
				ops++
			}
			after := pool.Stats()
			b.ReportMetric(float64(after.Commands-before.Commands)/float64(ops), "cmds/op")
			b.ReportMetric(float64(after.Handshakes-before.Handshakes)/float64(ops), "handshakes/op")
		})
	}
}

// submitHeld submits n held jobs as alice (eight at a time over the pool)
// and cancels them when the benchmark ends. Held jobs take no CPU, and 100
// sbatch calls take about a second.
func submitHeld(b *testing.B, exec batch.Executor, n int) []string {
	b.Helper()
	ctx := context.Background()
	script := []byte("#!/bin/bash\n#SBATCH --job-name=hpcgate-bench\n#SBATCH --output=/dev/null\n#SBATCH --time=1\ntrue\n")
	ids := make([]string, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				out, err := exec.Run(ctx, batch.Command{User: "alice", Argv: []string{"sbatch", "--parsable", "--hold"}, Stdin: script})
				if err == nil {
					ids[i], err = parseJobID(out)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	b.Cleanup(func() {
		var got []string
		for _, id := range ids {
			if id != "" {
				got = append(got, id)
			}
		}
		for len(got) > 0 {
			chunk := got[:min(len(got), 200)]
			got = got[len(chunk):]
			if _, err := exec.Run(ctx, batch.Command{User: "alice", Argv: append([]string{"scancel"}, chunk...)}); err != nil {
				b.Errorf("cancel benchmark jobs %s…: %v", chunk[0], err)
			}
		}
	})
	close(errs)
	for err := range errs {
		b.Fatalf("submit held job: %v", err)
	}
	return ids
}
