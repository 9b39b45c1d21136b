package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"hpcgate/gateway"
)

// TestProgressFollow: with ?follow=1 the stream of a ready server stays
// open: the walltime warning arrives, and the stream ends when the server
// stops. Without it the stream ends at the ready event, as JupyterHub's.
func TestProgressFollow(t *testing.T) {
	e := newEnv(t)
	e.serverIs(ready("alice", e.clock.Now()))
	events := make(chan gateway.Progress, 4)
	e.hub.SubscribeFn = func(string, string) (<-chan gateway.Progress, func()) { return events, func() {} }
	events <- gateway.Progress{State: gateway.StateReady, Ready: true, Progress: 100, JobID: "7"}
	events <- gateway.Progress{State: gateway.StateReady, Ready: true, Progress: 100, JobID: "7",
		Warning: "The scheduler will end this server in 9m, at the end of its walltime. Save your work."}
	events <- gateway.Progress{State: gateway.StateStopped, Stopped: true, Reason: "The job reached the end of its walltime (1h)."}
	alice := e.apiToken("alice", TokenUser, 0, time.Time{})

	req, _ := http.NewRequest("GET", e.url("/hub/api/users/alice/server/progress?follow=1"), nil)
	req.Header.Set("Authorization", "token "+alice)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := readEvents(t, resp)
	if len(got) != 3 {
		t.Fatalf("follow stream: %d events %v, want ready, warning, end", len(got), got)
	}
	if w, _ := got[1]["warning"].(string); !strings.Contains(w, "end of its walltime") || got[1]["ready"] != true {
		t.Errorf("second event %v, want the ready server's walltime warning", got[1])
	}
	if got[2]["failed"] != true {
		t.Errorf("last event %v, want the end", got[2])
	}

	plain, _ := readEvents(t, e.stream(alice, "alice"))
	if len(plain) != 1 || plain[0]["ready"] != true {
		t.Errorf("without follow: %v, want only the ready event", plain)
	}
}
