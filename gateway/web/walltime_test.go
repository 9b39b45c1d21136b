package web

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"hpcgate/gateway"
)

var reBanner = regexp.MustCompile(`<div class="alert alert-error" role="alert" data-walltime-banner[^>]*>\s*([^\n]*)`)

func TestWalltimeBanner(t *testing.T) {
	tests := []struct {
		name    string
		left    time.Duration // walltime left now; 0 for a queued server
		visible bool
		text    string
	}{
		{"well before the end", 3 * time.Hour, false, "180 min"},
		{"just over ten minutes", 10*time.Minute + time.Second, false, "11 min"},
		{"just under ten minutes", 10*time.Minute - time.Second, true, "10 min"},
		{"minutes left", 8*time.Minute + 30*time.Second, true, "9 min"},
		{"the last seconds", 20 * time.Second, true, "1 min"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			now := e.clock.Now()
			srv := ready("bob", now)
			srv.Resources.Walltime = time.Hour + tt.left // started an hour ago
			e.serverIs(srv)
			bob := e.browser()
			bob.login("bob", "bob-pass")
			_, body := bob.get("/hub/home")
			m := reBanner.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("no walltime banner on the home page of a running server\n%s", body)
			}
			hidden := strings.Contains(m[0], " hidden>")
			if hidden == tt.visible {
				t.Errorf("banner hidden=%v with %v left, want visible=%v", hidden, tt.left, tt.visible)
			}
			want := "Your server on Loopback Slurm will be stopped by the scheduler in <strong data-field=\"minutes\">" + tt.text + "</strong> (end of its walltime). Save your work."
			if m[1] != want {
				t.Errorf("banner says %q, want %q", m[1], want)
			}
			if !strings.Contains(m[0], `data-walltime-left="`+itoa(int64(tt.left/time.Second))+`" data-warn-at="600"`) {
				t.Errorf("the banner does not carry the seconds left for hpcgate.js: %s", m[0])
			}
		})
	}

	// A queued server has no walltime running yet: no banner.
	e := newEnv(t)
	e.serverIs(queued("alice", e.clock.Now()))
	alice := e.browser()
	alice.login("alice", "alice-pass")
	if _, body := alice.get("/hub/home"); strings.Contains(body, "data-walltime-banner") {
		t.Error("a queued server has a walltime banner")
	}
}

func TestEndedByWalltime(t *testing.T) {
	tests := []struct {
		state         gateway.ServerState
		reason, badge string
	}{
		{gateway.StateStopped, "The job reached the end of its walltime (4h) and the scheduler ended it.", ">Ended at the end of its walltime<"},
		{gateway.StateStopped, "The app exited and the job ended.", ">Stopped<"},
		{gateway.StateFailed, "The job failed with exit code 1.", ">Failed<"},
	}
	for _, tt := range tests {
		e := newEnv(t)
		now := e.clock.Now()
		srv := ready("bob", now)
		srv.State, srv.Reason, srv.Stopped = tt.state, tt.reason, now.Add(-time.Minute)
		e.serverIs(srv)
		bob := e.browser()
		bob.login("bob", "bob-pass")
		_, body := bob.get("/hub/home")
		if !strings.Contains(body, tt.badge) || !strings.Contains(body, tt.reason) {
			t.Errorf("%s (%s): the card lacks the badge %s or the reason", tt.state, tt.reason, tt.badge)
		}
		if strings.Contains(body, "data-walltime-banner") {
			t.Errorf("%s: a server that ended has a walltime banner", tt.state)
		}
	}
}
