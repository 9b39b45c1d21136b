package batchtest

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SSH runs the OpenSSH client as user against the login node, with the
// user's certificate signed by the cluster's user CA: what a person does
// by hand. It returns stdout and fails the test on error.
func (c Cluster) SSH(t testing.TB, user string, stdin string, args ...string) string {
	t.Helper()
	host, port, _ := strings.Cut(c.Get(t, "SSH_ADDR"), ":")
	argv := append([]string{"-p", port, "-i", filepath.Join(c.Get(t, "SSH_USER_KEYS"), user),
		"-o", "UserKnownHostsFile=" + c.Get(t, "SSH_KNOWN_HOSTS"), "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes", user + "@" + host}, args...)
	cmd := exec.Command("ssh", argv...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("ssh %s %v: %v\n%s", user, args, err, errb.String())
	}
	return out.String()
}

// GetThroughSSHW fetches http://127.0.0.1:port/ through `ssh -W` on the
// login node, as user, and returns the status line.
func (c Cluster) GetThroughSSHW(t testing.TB, user string, port int) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		host, sshPort, _ := strings.Cut(c.Get(t, "SSH_ADDR"), ":")
		cmd := exec.Command("ssh", "-p", sshPort, "-i", filepath.Join(c.Get(t, "SSH_USER_KEYS"), user),
			"-o", "UserKnownHostsFile="+c.Get(t, "SSH_KNOWN_HOSTS"), "-o", "BatchMode=yes",
			"-W", fmt.Sprintf("127.0.0.1:%d", port), user+"@"+host)
		cmd.Stdin = strings.NewReader("GET / HTTP/1.0\r\n\r\n")
		out, _ := cmd.Output()
		if line, _, _ := strings.Cut(string(out), "\r\n"); strings.HasPrefix(line, "HTTP/") {
			return line
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing answered on port %d through ssh -W", port)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
