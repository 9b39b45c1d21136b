package gateway

import (
	"context"
	"sync"
	"time"
)

// ActivityFlushInterval is how often activity noted by the proxy reaches
// the database. The culler and the admin page read last activity in
// minutes; a crash loses at most this much of it.
const ActivityFlushInterval = 10 * time.Second

// activityLog holds the activity the proxy noted since the last flush,
// the newest time per server, so that a request never waits for a
// database write and a busy server costs one write per interval.
type activityLog struct {
	mu      sync.Mutex
	pending map[[2]string]time.Time // by user, server name
	start   sync.Once
}

// NoteActivity records that the user's server was used at t, for the
// database at the next flush (every ActivityFlushInterval, and on Close).
// It never blocks on the database: the proxy calls it on the request's
// goroutine.
func (h *Hub) NoteActivity(user, server string, t time.Time) {
	a := &h.activity
	a.mu.Lock()
	if a.pending == nil {
		a.pending = map[[2]string]time.Time{}
	}
	k := [2]string{user, server}
	if t.After(a.pending[k]) {
		a.pending[k] = t
	}
	a.mu.Unlock()
	a.start.Do(func() {
		// Not started by Close's cancellation racing us: the loop
		// sees ctx done and returns, and Close flushes.
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			tick := time.NewTicker(ActivityFlushInterval)
			defer tick.Stop()
			for {
				select {
				case <-h.ctx.Done():
					return
				case <-tick.C:
					h.flushActivity(h.ctx)
				}
			}
		}()
	})
}

// flushActivity writes the pending activity.
func (h *Hub) flushActivity(ctx context.Context) {
	a := &h.activity
	a.mu.Lock()
	pending := a.pending
	a.pending = nil
	a.mu.Unlock()
	for k, t := range pending {
		if err := h.RecordActivity(ctx, k[0], k[1], t); err != nil {
			h.log.Warn("record proxy activity", "user", k[0], "server", k[1], "err", err)
		}
	}
}
