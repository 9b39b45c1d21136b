package sge

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"hpcgate/batch"
	"hpcgate/batch/batchtest"
	"hpcgate/batch/sshexec"
	"hpcgate/batch/sshexec/sshtest"
)

// BenchmarkStatus measures one Status call for 1 to 500 jobs over the
// pooled SSH connection to the loopback cluster's Grid Engine. After
// warm-up it must cost one remote command and no SSH handshake per call,
// whatever the number of jobs (reported as cmds/op and handshakes/op). The
// listing is of every job in the queue, so its cost follows the queue's
// size, not the number of ids.
func BenchmarkStatus(b *testing.B) {
	c := batchtest.LoadCluster(b)
	pool := sshtest.Pool(b, c, sshexec.ModeCertificate)
	ctx := context.Background()
	bin := c.Get(b, "SGE_BIN")
	start := time.Now()
	ids := submitHeld(b, pool, bin, 500)
	// Eight at a time: each qsub's own latency is about eight times the
	// mean interval.
	b.Logf("500 held jobs submitted in %s (%s per qsub, 8 in parallel)", time.Since(start).Round(time.Millisecond), (time.Since(start) / 500 * 8).Round(time.Millisecond))
	s, err := New(pool, Options{BinDir: bin})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 10, 100, 500} {
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
// and deletes them when the benchmark ends.
func submitHeld(b *testing.B, exec batch.Executor, bin string, n int) []string {
	b.Helper()
	ctx := context.Background()
	script := []byte("#!/bin/bash\n#$ -N hpcgate-bench\n#$ -o /dev/null\n#$ -j y\n#$ -l h_rt=60\ntrue\n")
	ids := make([]string, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				out, err := exec.Run(ctx, batch.Command{User: "alice", Argv: []string{bin + "/qsub", "-terse", "-h"}, Stdin: script})
				if err == nil {
					ids[i] = strings.TrimSpace(string(out))
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
			if _, err := exec.Run(ctx, batch.Command{User: "alice", Argv: []string{bin + "/qdel", strings.Join(chunk, ",")}}); err != nil {
				b.Errorf("delete benchmark jobs %s…: %v", chunk[0], err)
			}
		}
	})
	close(errs)
	for err := range errs {
		b.Fatalf("submit held job: %v", err)
	}
	return ids
}
