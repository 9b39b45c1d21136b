package web

import (
	"testing"
	"time"

	"hpcgate/gateway"
)

// TestProgressOfEndedServerHasNoZeroTime: the one event sent for a server
// that already failed or is ready is made up on the spot, with no time of
// its own; it must not claim the year 1 ("time":"0001-01-01T00:00:00Z").
func TestProgressOfEndedServerHasNoZeroTime(t *testing.T) {
	for _, state := range []gateway.ServerState{gateway.StateFailed, gateway.StateReady} {
		t.Run(string(state), func(t *testing.T) {
			e := newEnv(t)
			info := ready("alice", e.clock.Now())
			info.State, info.Reason = state, "The job could not be submitted: login node connection failed"
			e.serverIs(info)
			alice := e.apiToken("alice", TokenUser, 0, time.Time{})
			got, _ := readEvents(t, e.stream(alice, "alice"))
			if len(got) != 1 {
				t.Fatalf("%d events, want 1: %v", len(got), got)
			}
			if tm, ok := got[0]["time"]; ok {
				t.Errorf("event has time %v; want none", tm)
			}
		})
	}
}
