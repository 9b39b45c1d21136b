package gateway_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"hpcgate/batch"
	"hpcgate/gateway"
)

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
			c := h.cluster
			ex, d := &addrExec{content: tc.file}, &dials{}
			c.Exec, c.Dial = ex, d.dial
			fake.set(info.JobID, batch.StateRunning, "RUNNING", "node001")
			p.Poll(ctx)
			got := waitState(t, h, "alice", gateway.StateFailed)
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
		c := h.cluster
		d := &dials{}
		c.Exec, c.Dial = &addrExec{content: "node001.cluster.example.org 40000\n"}, d.dial
		fake.set(info.JobID, batch.StateRunning, "RUNNING", "node001")
		p.Poll(context.Background())
		deadline := time.Now().Add(5 * time.Second)
		for len(d.list()) == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if a := d.list(); len(a) == 0 || a[0] != "node001:40000" {
			t.Errorf("the tunnel was asked for %v, want node001:40000", a)
		}
	})
}

func waitState(t *testing.T, h *testHub, user string, state gateway.ServerState) *gateway.ServerInfo {
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
	w := gateway.ReadyFirstWait
	if w > 50*time.Millisecond {
		t.Errorf("first wait %v; want at most 50ms", w)
	}
	var total time.Duration
	for i := range 30 {
		next := gateway.NextReadyWait(w)
		if next < w || next > gateway.ReadyMaxWait {
			t.Fatalf("wait %d: %v after %v; want growing up to %v", i, next, w, gateway.ReadyMaxWait)
		}
		total += w
		w = next
	}
	if w != gateway.ReadyMaxWait {
		t.Errorf("after 30 polls the wait is %v; want the cap %v", w, gateway.ReadyMaxWait)
	}
	if total > 2*time.Minute {
		t.Errorf("30 polls take %v; want the backoff capped", total)
	}
}
