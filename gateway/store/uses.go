package store

import (
	"context"
	"sync"
	"time"
)

// useFlushInterval is how often the last-use stamps of tokens and
// sessions noted in memory are written. They are shown rounded to the
// minute; a crash loses at most this much of them.
const useFlushInterval = 10 * time.Second

// useLog collects last-use stamps so that looking a token or session up
// never waits for a write: each is written at most once per usedEvery,
// in the background and on Close.
type useLog struct {
	mu       sync.Mutex
	tokens   map[int64]time.Time
	sessions map[string]time.Time
	start    sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// tokenUsed notes that token id was used at now.
func (s *Store) tokenUsed(id int64, now time.Time) {
	u := &s.uses
	u.mu.Lock()
	if u.tokens == nil {
		u.tokens = map[int64]time.Time{}
	}
	u.tokens[id] = now
	u.mu.Unlock()
	s.startFlusher()
}

// sessionUsed notes that session id was seen at now.
func (s *Store) sessionUsed(id string, now time.Time) {
	u := &s.uses
	u.mu.Lock()
	if u.sessions == nil {
		u.sessions = map[string]time.Time{}
	}
	u.sessions[id] = now
	u.mu.Unlock()
	s.startFlusher()
}

func (s *Store) startFlusher() {
	u := &s.uses
	u.start.Do(func() {
		u.stop, u.done = make(chan struct{}), make(chan struct{})
		go func() {
			defer close(u.done)
			tick := time.NewTicker(useFlushInterval)
			defer tick.Stop()
			for {
				select {
				case <-u.stop:
					return
				case <-tick.C:
					s.FlushUses(context.Background())
				}
			}
		}()
	})
}

// stopFlusher ends the background writer, if it started, and writes what
// is pending.
func (s *Store) stopFlusher() {
	u := &s.uses
	u.start.Do(func() {}) // no flusher may start from now on
	if u.stop != nil {
		close(u.stop)
		<-u.done
	}
	s.FlushUses(context.Background())
}

// FlushUses writes the pending last-use stamps. The guards keep a stamp
// from going backwards (another hub replica, or a later write already
// made).
func (s *Store) FlushUses(ctx context.Context) {
	u := &s.uses
	u.mu.Lock()
	tokens, sessions := u.tokens, u.sessions
	u.tokens, u.sessions = nil, nil
	u.mu.Unlock()
	for id, t := range tokens {
		if _, err := s.db.ExecContext(ctx, s.q("UPDATE api_tokens SET last_used = ? WHERE id = ? AND (last_used IS NULL OR last_used < ?)"),
			ts(t), id, ts(t)); err != nil {
			s.log.Warn("record token use", "token", id, "err", err)
		}
	}
	for id, t := range sessions {
		if _, err := s.db.ExecContext(ctx, s.q("UPDATE sessions SET last_seen = ? WHERE id = ? AND (last_seen IS NULL OR last_seen < ?)"),
			ts(t), id, ts(t)); err != nil {
			s.log.Warn("record session use", "err", err)
		}
	}
}
