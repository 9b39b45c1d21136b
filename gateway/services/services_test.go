package services

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"hpcgate/gateway/config"
)

func TestEnvironment(t *testing.T) {
	s := &config.Service{Name: "whoami", URL: "http://127.0.0.1:10101", Command: []string{"/bin/true"},
		OAuthClientID: "service-whoami", OAuthRedirectURI: "/jh/services/whoami/oauth_callback",
		Environment: map[string]string{"EXTRA": "1", "JUPYTERHUB_SERVICE_NAME": "spoofed", "JUPYTERHUB_API_URL": "http://elsewhere/hub/api"}}
	hubEnv := map[string]string{"PATH": "/usr/bin", "HOME": "/root", "SECRET": "x"}
	env := Environment(s, "tok", Hub{APIURL: "http://127.0.0.1:8000/jh/hub/api", BaseURL: "/jh/"}, func(k string) string { return hubEnv[k] })
	want := map[string]string{
		"PATH":                                   "/usr/bin",
		"JUPYTERHUB_API_TOKEN":                   "tok",
		"JPY_API_TOKEN":                          "tok",
		"JUPYTERHUB_CLIENT_ID":                   "service-whoami",
		"JUPYTERHUB_HOST":                        "",
		"JUPYTERHUB_OAUTH_CALLBACK_URL":          "/jh/services/whoami/oauth_callback",
		"JUPYTERHUB_OAUTH_SCOPES":                `["access:services","access:services!service=whoami"]`,
		"JUPYTERHUB_OAUTH_ACCESS_SCOPES":         `["access:services","access:services!service=whoami"]`,
		"JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES": `[]`,
		"JUPYTERHUB_USER":                        "",
		"JUPYTERHUB_SERVER_NAME":                 "",
		// The service's environment may change the hub's variables, as
		// in JupyterHub, but not its name, URL and prefix.
		"JUPYTERHUB_API_URL":        "http://elsewhere/hub/api",
		"JUPYTERHUB_BASE_URL":       "/jh/",
		"EXTRA":                     "1",
		"JUPYTERHUB_SERVICE_NAME":   "whoami",
		"JUPYTERHUB_SERVICE_URL":    "http://127.0.0.1:10101",
		"JUPYTERHUB_SERVICE_PREFIX": "/jh/services/whoami/",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if len(env) != len(want) {
		t.Errorf("environment has %d variables, want %d (only env_keep of the hub's): %v", len(env), len(want), env)
	}
}

// TestSupervisor: a service that exits is started again after the
// backoff, with its output logged; Stop ends it and what it started.
func TestSupervisor(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "svc.sh")
	// Counts its starts, says so, and exits at once the first two times.
	os.WriteFile(script, []byte(`#!/bin/sh
echo start >> "$COUNT"
echo "hello from $JUPYTERHUB_SERVICE_NAME"
[ "$(wc -l < "$COUNT")" -ge 3 ] && exec sleep 300
exit 3
`), 0o755)
	logs := &syncBuffer{}
	s, err := Start([]config.Service{{Name: "svc", Command: []string{script}, Environment: map[string]string{"COUNT": filepath.Join(dir, "count")}}},
		map[string]string{"svc": "tok"}, Options{Logger: slog.New(slog.NewTextHandler(logs, nil)), MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.PID("svc") == 0 || !strings.Contains(logs.String(), "start=3") {
		if time.Now().After(deadline) {
			s.Stop()
			t.Fatalf("the service was not restarted twice:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	pid := s.PID("svc")
	if !strings.Contains(logs.String(), `line="hello from svc"`) || !strings.Contains(logs.String(), "exit status 3") {
		t.Errorf("output and exits not logged:\n%s", logs)
	}
	s.Stop()
	if s.PID("svc") != 0 {
		t.Errorf("pid after Stop: %d", s.PID("svc"))
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("the service (pid %d) is still running after Stop", pid)
	}
}

func TestCheckUsers(t *testing.T) {
	err := CheckUsers([]config.Service{{Name: "x", Command: []string{"/bin/true"}, User: "no-such-user-here"}})
	if err == nil || !strings.Contains(err.Error(), "run as the hub's own user") {
		t.Errorf("a service with another user: %v", err)
	}
}

var _ io.Writer = (*syncBuffer)(nil)

// TestTokensSameOnEveryReplica: a managed service without api_token_file
// gets the same token from every replica sharing the cookie secret (its
// OAuth client secret, checked by whichever replica gets the exchange),
// another token under another secret or name; a file's token wins, and
// an external service without one has none.
func TestTokensSameOnEveryReplica(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ext.token")
	if err := os.WriteFile(file, []byte("external-token-1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	svcs := []config.Service{
		{Name: "announce", Command: []string{"/bin/true"}},
		{Name: "cull", Command: []string{"/bin/true"}},
		{Name: "ext", URL: "http://127.0.0.1:9", APITokenFile: file},
		{Name: "bare", URL: "http://127.0.0.1:9"},
	}
	secret := []byte(strings.Repeat("s", 32))
	tokens := func(key []byte) map[string]string {
		t.Helper()
		m, err := Tokens(svcs, key)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b := tokens(secret), tokens(slices.Clone(secret))
	if a["announce"] == "" || a["announce"] != b["announce"] || a["cull"] != b["cull"] {
		t.Fatalf("two replicas with one cookie secret disagree: %q / %q", a, b)
	}
	if a["announce"] == a["cull"] {
		t.Error("two services share a token")
	}
	if strings.Contains(a["announce"], string(secret)) || len(a["announce"]) != 64 {
		t.Errorf("derived token %q: want 64 hex characters, not the secret", a["announce"])
	}
	if c := tokens([]byte(strings.Repeat("t", 32))); c["announce"] == a["announce"] {
		t.Error("another cookie secret derived the same token")
	}
	if a["ext"] != "external-token-1234" {
		t.Errorf("api_token_file's token: %q", a["ext"])
	}
	if _, ok := a["bare"]; ok {
		t.Error("an external service without api_token_file got a token")
	}
	if _, err := Tokens(svcs, []byte("short")); err == nil {
		t.Error("a short key derived tokens")
	}
}
