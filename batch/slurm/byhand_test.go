package slurm

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"hpcgate/batch/batchtest"
)

// TestByHand is the loopback cluster as a person uses it: as alice over
// ssh -p 2222 with a certificate from the cluster's user CA, sbatch a job
// that listens on a port, and reach that port through ssh -W.
func TestByHand(t *testing.T) {
	c := batchtest.LoadCluster(t)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	script := fmt.Sprintf("#!/bin/bash\n#SBATCH -o /dev/null\n#SBATCH -t 5\nexec python3 -m http.server %d --bind 127.0.0.1\n", port)
	id := strings.TrimSpace(c.SSH(t, "alice", script, "sbatch", "--parsable"))
	defer c.SSH(t, "alice", "", "scancel", id)
	if got := c.GetThroughSSHW(t, "alice", port); !strings.Contains(got, "200") {
		t.Fatalf("through ssh -W: %q", got)
	}
	if who := c.SSH(t, "alice", "", "squeue", "-h", "-j", id, "-o", "%u,%T"); strings.TrimSpace(who) != "alice,RUNNING" {
		t.Errorf("squeue says %q", who)
	}
}
