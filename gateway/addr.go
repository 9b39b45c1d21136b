package gateway

import (
	"fmt"
	"strings"
)

// The address file is written by the job, that is by the user's own code,
// so it is no more than a claim: the hub's tunnel runs as the hub's
// service account and could otherwise be pointed at any host and port the
// login node reaches (sshd on another machine, a database, a privileged
// service). Only the node the scheduler runs the job on, and only an
// unprivileged port there, is accepted.

// Ports a job's app may listen on: those an unprivileged process can bind.
const (
	minAppPort = 1024
	maxAppPort = 65535
)

// maxAddrFile bounds how much of the address file is read ("host port"
// is a few dozen bytes; the user may have made it gigabytes).
const maxAddrFile = 512

// jobTarget checks the address the job reported (host, port) against the
// node the scheduler reports for the job, and returns the host the hub
// tunnels to: the scheduler's node name, never the file's host. Names are
// compared without regard to case or a trailing dot, and a fully
// qualified name matches its short form either way round (PBS_NODEFILE
// may hold node001.cluster where exec_host says node001). The error is
// the reason the user sees.
func jobTarget(node, host string, port int) (string, error) {
	claim := fmt.Sprintf("%s:%d", host, port)
	if node == "" {
		return "", fmt.Errorf("the job reported %s, but the scheduler has not said which node runs it; refusing to connect", claim)
	}
	if !sameNode(node, host) {
		return "", fmt.Errorf("the job reported %s, but the scheduler runs it on %s; refusing to connect", claim, node)
	}
	if port < minAppPort || port > maxAppPort {
		return "", fmt.Errorf("the job reported %s, but an app must listen on a port from %d to %d; refusing to connect", claim, minAppPort, maxAppPort)
	}
	return node, nil
}

// sameNode reports whether host names node.
func sameNode(node, host string) bool {
	n, h := normalHost(node), normalHost(host)
	if n == "" || h == "" {
		return false
	}
	return n == h || strings.HasPrefix(h, n+".") || strings.HasPrefix(n, h+".")
}

func normalHost(s string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
}
