package main

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"hpcgate/batch/batchtest"
)

// rogueCluster is a cluster on the loopback Slurm whose jobs report an
// address of the test's choosing, as a user's job can: the site's setup
// lines run before the job script writes the address file, and override
// the host and port it writes. The app itself only sleeps.
func rogueCluster(t *testing.T, c batchtest.Cluster, name, host string, port int) string {
	return fmt.Sprintf(`  - name: %s
    scheduler: slurm
    login:
      host: 127.0.0.1
      port: 2222
      known_hosts: %s
      auth: certificate
      user_ca_key: %s
      service_user: hpcgate
    poll_interval: 3s
    fast_poll_interval: 1s
    start_timeout: 2m
    app:
      command: [sleep, "300"]
      setup: ["HPCGATE_HOST=%s", "HPCGATE_PORT=%d"]
    profiles:
      - name: small
        cores: {value: 1}
        walltime: {value: 10m}
`, name, c.Get(t, "SSH_KNOWN_HOSTS"), c.Get(t, "SSH_USER_CA"), host, port)
}

// TestAddressElsewhereRefused: jobs whose address file points at a place
// other than their own node (another host, a privileged port) fail to
// spawn with the reason, their jobs are cancelled, and the hub opens no
// connection to the place named.
func TestAddressElsewhereRefused(t *testing.T) {
	c := batchtest.LoadCluster(t)
	// The target a hostile job names: a listener counting connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			conn.Close()
		}
	}()
	target := ln.Addr().(*net.TCPAddr).Port

	port := freePort(t)
	site := writeSite(t, c, port, rogueCluster(t, c, "rogue-host", "127.0.0.1", target)+rogueCluster(t, c, "rogue-port", "localhost", 80))
	h := startHub(t, c, site, port)
	for _, tc := range []struct{ user, cluster, why string }{
		{"alice", "rogue-host", fmt.Sprintf("the job reported 127.0.0.1:%d, but the scheduler runs it on localhost; refusing to connect", target)},
		{"bob", "rogue-port", "the job reported localhost:80, but an app must listen on a port from 1024 to 65535; refusing to connect"},
	} {
		tok := newToken(t, h.site, tc.user)
		if code, out := api(t, h.base, tok, "POST", "/hub/api/users/"+tc.user+"/server", map[string]string{"cluster": tc.cluster, "profile": "small"}); code != 202 {
			t.Fatalf("spawn on %s: %d %s", tc.cluster, code, out)
		}
		evs := followEvents(t, h.base, tok, tc.user, 2*time.Minute, true, func(ev progressEvent) bool { return ev.Failed || ev.Ready })
		last := evs[len(evs)-1]
		if !last.Failed || !strings.Contains(last.Message, tc.why) {
			t.Errorf("%s on %s: %+v; want the spawn failed with %q", tc.user, tc.cluster, last, tc.why)
			continue
		}
		if last.JobID == "" {
			t.Fatalf("the failed event names no job: %+v", last)
		}
		waitFor(t, time.Minute, "job "+last.JobID+" to be cancelled", func() bool {
			st := squeue(t, c, last.JobID)
			return st == "" || strings.Contains(st, "CANCELLED")
		})
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the hub opened %d connections to the address a job named", n)
	}
}
