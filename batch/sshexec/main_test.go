package sshexec

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"

	"hpcgate/batch/batchtest"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if p := loginNodeProblem(); p != "" && os.Getenv(batchtest.EnvVar) == "" {
		// The examples run against a real sshd and, unlike tests, cannot
		// skip themselves: leave them out where the login node cannot run,
		// as the integration tests skip there (unless -run was given).
		if run := flag.Lookup("test.run"); run.Value.String() == "" {
			fmt.Fprintf(os.Stderr, "sshexec: examples and integration tests skipped: %s\n", p)
			run.Value.Set("^Test")
		}
	}
	code := m.Run()
	exampleNode.stop()
	os.Exit(code)
}

// exampleNode is the login node the examples share, started by the first.
var exampleNode sharedNode

type sharedNode struct {
	once sync.Once
	n    *loginNode
	dir  string
}

// LoginNodeForExamples returns a real sshd on loopback, started for the
// examples (exported so the examples, in package sshexec_test, can use it).
// Its Dir holds known_hosts, the user CA's key and the service account's
// key, as a site's config directory would.
func LoginNodeForExamples() *loginNode {
	s := &exampleNode
	s.once.Do(func() {
		dir, err := os.MkdirTemp("", "sshexec-examples-")
		if err != nil {
			panic(err)
		}
		s.dir = dir
		if s.n, err = startLoginNode(dir); err != nil {
			panic(fmt.Sprintf("start the examples' login node: %v", err))
		}
	})
	return s.n
}

func (s *sharedNode) stop() {
	if s.n != nil {
		s.n.stop()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}
