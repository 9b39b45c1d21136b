package web

import (
	"context"
	"flag"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"hpcgate/gateway"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// reSecrets matches what differs between runs: synchronizer tokens.
var reSecrets = regexp.MustCompile(`(name="_xsrf" value="|data-xsrf=")[^"]+"`)

// golden compares a rendered page with testdata/<name>.html.
func golden(t *testing.T, name, body string) {
	t.Helper()
	body = reSecrets.ReplaceAllString(body, `${1}XSRF"`)
	path := filepath.Join("testdata", name+".html")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != body {
		t.Errorf("%s differs from %s (go test -update rewrites it); got:\n%s", name, path, body)
	}
}

func TestPagesGolden(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	failed := queued("carol", now)
	failed.State, failed.Reason, failed.JobID = gateway.StateFailed, "sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified", ""
	e.serverIs(queued("alice", now), ready("bob", now), failed)
	e.hub.LogTailFn = func(_ context.Context, user, _ string) (string, error) {
		return "+ module load python\nmodule: command not found\n", nil
	}
	var calls []gateway.SpawnRequest
	e.spawnWithProfiles(&calls)

	anon := e.browser()
	_, body := anon.get("/hub/login")
	golden(t, "login", body)

	alice := e.browser()
	alice.login("alice", "alice-pass")
	_, body = alice.get("/hub/home")
	golden(t, "home-queued", body)
	_, body = alice.get("/hub/spawn-pending/alice")
	golden(t, "spawn-pending-queued", body)

	bob := e.browser()
	bob.login("bob", "bob-pass")
	_, body = bob.get("/hub/home")
	golden(t, "home-ready", body)

	carol := e.browser()
	carol.login("carol", "carol-pass")
	_, body = carol.get("/hub/spawn-pending/carol")
	golden(t, "spawn-pending-failed", body)
	_, body = carol.get("/hub/spawn")
	golden(t, "spawn", body)
	tok := carol.xsrf("/hub/spawn")
	_, body = carol.post("/hub/spawn", url.Values{"_xsrf": {tok}, "profile": {"local/custom"},
		"local/custom/walltime": {"100h"}, "local/custom/partition": {"gpu"}})
	golden(t, "spawn-refused", body)
}

func TestHomePage(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	e.serverIs(queued("alice", now), ready("bob", now))
	alice := e.browser()
	alice.login("alice", "alice-pass")
	_, body := alice.get("/hub/home")
	for _, want := range []string{
		`data-progress-url="/hub/api/users/alice/server/progress"`,
		`>Queued<`, "waiting for free nodes", "(Resources)", "4242", "Loopback Slurm", "Custom",
		`data-since="` + strconv.FormatInt(now.Add(-3*time.Minute).Unix(), 10) + `">3m 00s<`,
		`href="/hub/spawn-pending/alice">Show progress<`, `>Cancel<`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("alice's home lacks %s", want)
		}
	}
	bob := e.browser()
	bob.login("bob", "bob-pass")
	_, body = bob.get("/hub/home")
	for _, want := range []string{
		`>Running<`, `href="/user/bob/">Open<`, `>Stop<`, "c1",
		`data-countdown="10800">3h 00m<`, // 4h walltime, started an hour ago
		`<time datetime="2025-03-01T11:55:00Z">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("bob's home lacks %s", want)
		}
	}
	if strings.Contains(body, "data-progress-url") {
		t.Error("a ready server's card follows the progress stream")
	}
	// Someone without a server is offered one.
	carol := e.browser()
	carol.login("carol", "carol-pass")
	_, body = carol.get("/hub/home")
	if !strings.Contains(body, `href="/hub/spawn">Start my server<`) {
		t.Error("carol's home does not offer to start a server")
	}
}

func TestStopFromHome(t *testing.T) {
	e := newEnv(t)
	e.serverIs(queued("alice", e.clock.Now()))
	var stopped []string
	e.hub.StopFn = func(_ context.Context, user, server, by string) error {
		stopped = append(stopped, user+"/"+server+" by "+by)
		return nil
	}
	alice := e.browser()
	alice.login("alice", "alice-pass")
	tok := alice.xsrf("/hub/home")
	resp, _ := alice.post("/hub/stop/alice", url.Values{"_xsrf": {tok}})
	if resp.StatusCode != http.StatusSeeOther || len(stopped) != 1 || stopped[0] != "alice/ by alice" {
		t.Errorf("stop: %d, stops %v", resp.StatusCode, stopped)
	}
	resp, _ = alice.post("/hub/spawn-pending/alice/cancel", url.Values{"_xsrf": {tok}})
	if resp.StatusCode != http.StatusSeeOther || len(stopped) != 2 {
		t.Errorf("cancel: %d, stops %v", resp.StatusCode, stopped)
	}
	bob := e.browser()
	bob.login("bob", "bob-pass")
	btok := bob.xsrf("/hub/home")
	if resp, _ := bob.post("/hub/stop/alice", url.Values{"_xsrf": {btok}}); resp.StatusCode != http.StatusForbidden || len(stopped) != 2 {
		t.Errorf("bob stopping alice: %d, stops %v", resp.StatusCode, stopped)
	}
}
