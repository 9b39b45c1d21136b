package pbs

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"hpcgate/batch/batchtest"
)

// TestByHand: the same flow as a person would with the PBS stand-in: qsub
// over ssh as alice, reach the job's port through ssh -W, qdel.
func TestByHand(t *testing.T) {
	c := batchtest.LoadCluster(t)
	bin := c.Get(t, "PBS_BIN")
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	script := fmt.Sprintf("#!/bin/bash\n#PBS -l walltime=00:05:00\n#PBS -o /dev/null\n#PBS -e /dev/null\nexec python3 -m http.server %d --bind 127.0.0.1\n", port)
	id := strings.TrimSpace(c.SSH(t, "alice", script, filepath.Join(bin, "qsub")))
	defer c.SSH(t, "alice", "", filepath.Join(bin, "qdel"), id)
	if got := c.GetThroughSSHW(t, "alice", port); !strings.Contains(got, "200") {
		t.Fatalf("through ssh -W: %q", got)
	}
	if out := c.SSH(t, "alice", "", filepath.Join(bin, "qstat"), "-f", id); !strings.Contains(out, "job_state = R") {
		t.Errorf("qstat -f %s:\n%s", id, out)
	}
}
