package gateway_test

import (
	"context"
	"testing"
	"time"

	"hpcgate/gateway"
)

// TestNoteActivityWritesNothingUntilFlush: activity noted by the proxy is
// not written while requests run, only the newest time is kept, and Close
// writes it.
func TestNoteActivityWritesNothingUntilFlush(t *testing.T) {
	h, _, _, now := newTestHub(t)
	ctx := context.Background()
	info := spawnAndWait(t, h, "busy")
	srv, err := h.store.GetServer(ctx, "busy", "")
	if err != nil {
		t.Fatal(err)
	}
	h.store.SetState(ctx, srv.ID, []gateway.ServerState{gateway.StateQueued}, gateway.StateStarting, "")
	h.store.SetState(ctx, srv.ID, []gateway.ServerState{gateway.StateStarting}, gateway.StateReady, "")
	before := srv.LastActivity

	start := *now
	*now = start.Add(5 * time.Minute)
	later := *now
	h.NoteActivity("busy", "", later)
	h.NoteActivity("busy", "", start.Add(time.Minute)) // older: kept out
	if got, _ := h.store.GetServer(ctx, "busy", ""); !got.LastActivity.Equal(before) {
		t.Fatalf("activity written on the request path: %v, was %v", got.LastActivity, before)
	}
	h.Close()
	got, err := h.store.GetServer(ctx, "busy", "")
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastActivity.Equal(later) {
		t.Errorf("after Close, last activity of %s is %v; want %v", info.User, got.LastActivity, later)
	}
}
