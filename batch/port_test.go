package batch

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"
)

// pickPort is the shared "pick-port" piece of the job templates.
func pickPort(t *testing.T) string {
	t.Helper()
	tm, err := template.New("").Funcs(scriptFuncs).ParseFS(os.DirFS("../templates"), SharedTemplate)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tm.ExecuteTemplate(&b, "pick-port", nil); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// runBash runs script with bash alone: an empty environment and a PATH
// without python3, under the job script's own set -euo pipefail.
func runBash(t *testing.T, script string) string {
	t.Helper()
	cmd := exec.Command("/bin/bash", "-c", "set -euo pipefail\n"+script)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestPickPort: the job picks a port with bash alone, in the range below
// the ephemeral ports, and one that nothing on the node uses.
func TestPickPort(t *testing.T) {
	snippet := pickPort(t)
	if strings.Contains(snippet, "python") {
		t.Fatal("the port picker uses python")
	}
	seen := map[string]bool{}
	for range 5 {
		out := runBash(t, snippet+"\necho \"$HPCGATE_PORT\"")
		port, err := strconv.Atoi(out)
		if err != nil || port < 20000 || port > 32767 {
			t.Fatalf("picked %q, want a port from 20000 to 32767", out)
		}
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			t.Fatalf("the picked port %d is not free: %v", port, err)
		}
		l.Close()
		seen[out] = true
	}
	if len(seen) < 2 {
		t.Errorf("five picks gave %v: not random", seen)
	}
}

// TestPortUsed: a port with a listener (on any address) or a connection
// counts as used; a free one does not.
func TestPortUsed(t *testing.T) {
	check := strings.Replace(pickPort(t), "unset -f hpcgate_port_used", "", 1)
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	used := l.Addr().(*net.TCPAddr).Port
	l6, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l6.Close()
	used6 := l6.Addr().(*net.TCPAddr).Port
	f, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := f.Addr().(*net.TCPAddr).Port
	f.Close()
	got := runBash(t, check+fmt.Sprintf(`
for p in %d %d %d; do if hpcgate_port_used "$p"; then echo used; else echo free; fi; done`, used, used6, free))
	if want := "used\nused\nfree"; got != want {
		t.Errorf("ports %d (listening on 127.0.0.2), %d (on ::1), %d (closed): %q, want %q", used, used6, free, got, want)
	}
}

// TestPickPortManySockets: a node with thousands of sockets (a busy login
// node; the two-replica test's load leaves as many in TIME_WAIT) still
// picks a port in well under a second. Read a line at a time, the
// kernel's socket table costs bash a system call per byte, each one
// regenerating the table: 3,500 sockets took 14 s, growing with the square.
func TestPickPortManySockets(t *testing.T) {
	for range 3000 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		defer l.Close()
	}
	start := time.Now()
	out := runBash(t, pickPort(t)+"\necho \"$HPCGATE_PORT\"")
	took := time.Since(start)
	if _, err := strconv.Atoi(out); err != nil {
		t.Fatalf("picked %q", out)
	}
	if took > 2*time.Second {
		t.Errorf("picking a port among 3000 sockets took %s, want well under a second", took.Round(time.Millisecond))
	}
	t.Logf("picked a port among 3000 sockets in %s", took.Round(time.Millisecond))
}
