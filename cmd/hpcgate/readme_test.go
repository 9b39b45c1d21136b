package main

import (
	"os"
	"strings"
	"testing"

	"hpcgate/gateway/config"
)

// TestReadmeReference keeps the README's configuration reference equal to
// what `hpcgate generate-config` prints.
func TestReadmeReference(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "<!-- generate-config -->\n```yaml\n")
	end := strings.Index(s, "```\n<!-- /generate-config -->")
	if start < 0 || end < start {
		t.Fatal("README.md has no generate-config block")
	}
	got := s[start+len("<!-- generate-config -->\n```yaml\n") : end]
	if got != config.Example() {
		t.Error("README.md's configuration reference differs from `hpcgate generate-config`: paste its output between the markers")
	}
}
