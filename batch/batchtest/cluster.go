// Package batchtest holds what tests share about the batch layer: the
// loopback cluster's settings, the conformance suite every Scheduler
// passes (Conformance) and the one every job template passes (Scripts).
// A new scheduler's package calls both unchanged. It is imported only
// from _test files.
package batchtest

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// EnvVar names the cluster.env file written by testdata/cluster/up.sh.
// `make test` sets it; a plain `go test` without it skips the integration
// tests, but once it is set a missing or broken cluster fails them.
const EnvVar = "HPCGATE_CLUSTER_ENV"

// Cluster is the loopback cluster's settings (see testdata/cluster/up.sh).
type Cluster map[string]string

// Get returns the value of key, failing the test if the cluster did not set it.
func (c Cluster) Get(t testing.TB, key string) string {
	t.Helper()
	v, ok := c[key]
	if !ok || v == "" {
		t.Fatalf("cluster.env has no %s: is the cluster up to date? (make cluster-up)", key)
	}
	return v
}

// LoadCluster reads the cluster's settings or skips/fails as EnvVar says.
func LoadCluster(t testing.TB) Cluster {
	t.Helper()
	path := os.Getenv(EnvVar)
	if path == "" {
		t.Skipf("needs the loopback cluster: run `make test` (or `make cluster-up` and set %s)", EnvVar)
	}
	c, err := ReadEnvFile(path)
	if err != nil {
		t.Fatalf("loopback cluster: %v (run `make cluster-up`)", err)
	}
	return c
}

// ReadEnvFile parses KEY=VALUE lines, ignoring blanks and # comments.
func ReadEnvFile(path string) (Cluster, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c := Cluster{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			c[k] = v
		}
	}
	return c, sc.Err()
}
