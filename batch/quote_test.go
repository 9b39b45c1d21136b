package batch

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// quoteCases are arguments that a shell would change if quoted wrongly.
var quoteCases = []string{
	"", "plain", "--qos=interactive", "a b", "  lead", "tab\there", "new\nline", "it's", "''", `"dq"`,
	"$HOME", "${HOME}", "$(id)", "`id`", "*", "?", "[a-z]", "{a,b}", "~", "~alice", "a;b", "a|b", "a&b",
	"<in", ">out", `back\slash`, "!bang", "#comment", "=ls", "a=b", "%1", "@x", "-n", "ünïcödé", "end'",
}

// TestQuoteShellRoundTrip runs the quoted words through the shells a login
// node runs commands with, and checks every argument arrives unchanged.
func TestQuoteShellRoundTrip(t *testing.T) {
	for _, shell := range []string{"/bin/sh", "/bin/bash"} {
		if _, err := os.Stat(shell); err != nil {
			t.Fatalf("%s: %v", shell, err)
		}
		// printf '%s\0' ARGS prints each argument NUL-terminated, so the
		// split below sees exactly what the program received.
		line := QuoteArgv(append([]string{"/usr/bin/printf", `%s\0`}, quoteCases...))
		out, err := exec.Command(shell, "-c", line).Output()
		if err != nil {
			t.Fatalf("%s -c %q: %v", shell, line, err)
		}
		got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		if !slices.Equal(got, quoteCases) {
			t.Errorf("%s changed the arguments:\n got %q\nwant %q", shell, got, quoteCases)
		}
	}
}

// TestQuoteArgvProgramWithEquals runs a program whose name looks like a
// variable assignment: unquoted, the shell would assign and run the next word.
func TestQuoteArgvProgramWithEquals(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "A=B")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\necho \"ran A=B with $1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	line := QuoteArgv([]string{"A=B", "echo", "assigned"})
	for _, shell := range []string{"/bin/sh", "/bin/bash"} {
		cmd := exec.Command(shell, "-c", line)
		cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin"}
		out, err := cmd.Output()
		if err != nil || string(out) != "ran A=B with echo\n" {
			t.Errorf("%s -c %q = %q, %v; want the program A=B to run", shell, line, out, err)
		}
	}
}

func TestQuoteWords(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"--qos=interactive", "--qos=interactive"},
		{"", "''"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"=ls", "'=ls'"}, // zsh's =name expansion
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got, want := QuoteArgv([]string{"A=B", "x=y"}), "'A=B' x=y"; got != want {
		t.Errorf("QuoteArgv = %s, want %s (only the program word is an assignment)", got, want)
	}
}
