package gateway

import (
	"strings"
	"testing"
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
