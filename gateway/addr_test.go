package gateway

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"hpcgate/batch"
)

func TestJobTarget(t *testing.T) {
	for _, tc := range []struct {
		node, host string
		port       int
		want       string // the host dialed; "" when refused
		why        string // in the refusal
	}{
		{"node001", "node001", 8888, "node001", ""},
		{"node001", "NODE001.", 1024, "node001", ""},
		{"node001", "node001.cluster.example.org", 65535, "node001", ""},
		{"node001.cluster", "node001", 40000, "node001.cluster", ""},
		{"localhost", "localhost", 40000, "localhost", ""},
		// Whatever the file says, the scheduler's name is dialed: a
		// look-alike suffix cannot steer the tunnel.
		{"node001", "node001.evil.example", 40000, "node001", ""},
		{"node001", "10.0.0.5", 22, "", "the job reported 10.0.0.5:22, but the scheduler runs it on node001; refusing to connect"},
		{"node001", "node002", 8888, "", "runs it on node001"},
		{"node001", "node0011", 8888, "", "runs it on node001"},
		{"node001", "node", 8888, "", "runs it on node001"},
		{"localhost", "127.0.0.1", 2222, "", "the job reported 127.0.0.1:2222, but the scheduler runs it on localhost"},
		{"node001", "login.example.org", 22, "", "runs it on node001"},
		{"node001", "node001", 80, "", "the job reported node001:80, but an app must listen on a port from 1024 to 65535"},
		{"node001", "node001", 1023, "", "from 1024 to 65535"},
		{"node001", "node001", 0, "", "from 1024 to 65535"},
		{"", "node001", 8888, "", "the scheduler has not said which node runs it"},
		{"node001", "", 8888, "", "runs it on node001"},
	} {
		got, err := jobTarget(tc.node, tc.host, tc.port)
		switch {
		case tc.why == "" && (err != nil || got != tc.want):
			t.Errorf("jobTarget(%q, %q, %d) = %q, %v; want %q", tc.node, tc.host, tc.port, got, err, tc.want)
		case tc.why != "" && (err == nil || !strings.Contains(err.Error(), tc.why) || !strings.HasSuffix(err.Error(), "refusing to connect")):
			t.Errorf("jobTarget(%q, %q, %d) = %q, %v; want refused: %q", tc.node, tc.host, tc.port, got, err, tc.why)
		}
	}
}

// addrExec answers every command with the address file's content.
type addrExec struct {
	content string
	mu      sync.Mutex
	argv    [][]string
}

func (e *addrExec) Run(_ context.Context, cmd batch.Command) ([]byte, error) {
	e.mu.Lock()
	e.argv = append(e.argv, cmd.Argv)
	e.mu.Unlock()
	return []byte(e.content), nil
}

// dials records where the tunnel was asked to go.
type dials struct {
	mu    sync.Mutex
	addrs []string
}

func (d *dials) dial(_ context.Context, _, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	return nil, errors.New("no tunnel in this test")
}

func (d *dials) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

// TestAddressElsewhereFailsSpawn: a job whose address file points
// anywhere but its own node fails with the reason, its job is cancelled,
// and the tunnel is never asked to go there. An address on its node is
// dialed by the scheduler's name for the node.
func TestAddressElsewhereFailsSpawn(t *testing.T) {
	for _, tc := range []struct {
		name, file, why string
	}{
		{"another host", "10.0.0.5 22\n", "the job reported 10.0.0.5:22, but the scheduler runs it on node001; refusing to connect"},
		{"a privileged port", "node001 80\n", "the job reported node001:80, but an app must listen on a port from 1024 to 65535; refusing to connect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, fake, p, _ := newTestHub(t)
			ctx := context.Background()
			info := spawnAndWait(t, h, "alice")
			c := h.clusters["c1"]
			ex, d := &addrExec{content: tc.file}, &dials{}
			c.Exec, c.Dial = ex, d.dial
			fake.set(info.JobID, batch.StateRunning, "RUNNING", "node001")
			p.poll(ctx)
			got := waitState(t, h, "alice", StateFailed)
			if !strings.Contains(got.Reason, tc.why) {
				t.Errorf("reason %q, want %q", got.Reason, tc.why)
			}
			if fake.count("cancel") != 1 {
				t.Errorf("the job was cancelled %d times, want once", fake.count("cancel"))
			}
			if a := d.list(); len(a) != 0 {
				t.Errorf("the tunnel was asked for %v", a)
			}
			if argv := ex.argv[0]; argv[0] != "tail" || argv[1] != "-c" {
				t.Errorf("the address file was read with %q, want a bounded tail -c", argv)
			}
		})
	}
	t.Run("its own node", func(t *testing.T) {
		h, fake, p, _ := newTestHub(t)
		info := spawnAndWait(t, h, "alice")
		c := h.clusters["c1"]
		d := &dials{}
		c.Exec, c.Dial = &addrExec{content: "node001.cluster.example.org 40000\n"}, d.dial
		fake.set(info.JobID, batch.StateRunning, "RUNNING", "node001")
		p.poll(context.Background())
		deadline := time.Now().Add(5 * time.Second)
		for len(d.list()) == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if a := d.list(); len(a) == 0 || a[0] != "node001:40000" {
			t.Errorf("the tunnel was asked for %v, want node001:40000", a)
		}
	})
}

func waitState(t *testing.T, h *Hub, user, state string) *ServerInfo {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := h.Server(context.Background(), user, "")
		if err == nil && got.State == state {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's server: %+v, %v; want %s", user, got, err, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReadyWaits: the first retry comes within 50ms, the waits grow, and
// the poll never waits more than 3s (a spawn's readiness is seen at most
// that late).
func TestReadyWaits(t *testing.T) {
	w := readyFirstWait
	if w > 50*time.Millisecond {
		t.Errorf("first wait %v; want at most 50ms", w)
	}
	var total time.Duration
	for i := range 30 {
		next := nextReadyWait(w)
		if next < w || next > readyMaxWait {
			t.Fatalf("wait %d: %v after %v; want growing up to %v", i, next, w, readyMaxWait)
		}
		total += w
		w = next
	}
	if w != readyMaxWait {
		t.Errorf("after 30 polls the wait is %v; want the cap %v", w, readyMaxWait)
	}
	if total > 2*time.Minute {
		t.Errorf("30 polls take %v; want the backoff capped", total)
	}
}
