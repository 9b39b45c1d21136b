package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"
)

// What replicas of the hub on one PostgreSQL share beside the tables:
// NOTIFY messages on two channels, and session-level advisory locks that
// say which replica does each cluster's polling and each cron job.
const (
	// channelIdentity carries the identity cache's invalidations
	// (identity.go): "<tag> c" or "<tag> u <name>".
	channelIdentity = "hpcgate_identity"
	// channelHub carries the hub's own messages: "<tag> <topic> <payload>".
	channelHub = "hpcgate_hub"
)

// notifyTimeout bounds one Notify.
const notifyTimeout = 5 * time.Second

func newTag() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ReplicaOptions configure StartReplica.
type ReplicaOptions struct {
	// ID names this replica in logs and /hub/health. Default: host/pid.
	ID string
	// Hear is called with each message another replica sent with Notify,
	// one at a time, on the listener's goroutine.
	Hear func(topic, payload string)
	// Resync is called when the listener is back after losing its
	// connection: messages may have been missed, so caches of the
	// database must be checked again.
	Resync func()
}

// Replica is this process's part in a group of hub replicas sharing one
// PostgreSQL (gateway.Replicas). It listens for the others' messages on a
// connection of its own (lib/pq's Listener), and holds the advisory locks
// of what it leads on another: a replica that dies, or loses that
// connection, leads nothing, and the server releases its locks at once.
type Replica struct {
	s    *Store
	id   string
	o    ReplicaOptions
	l    *pq.Listener
	done chan struct{}
	wg   sync.WaitGroup
	stop sync.Once

	mu     sync.Mutex
	conn   *sql.Conn        // holds the locks; nil until the first Lead, or after it was lost
	schema string           // the connection's current_schema, part of every lock's key
	held   map[string]int64 // lock name → key
}

// StartReplica joins this store's process to the replicas on its
// PostgreSQL: it listens for their messages and caches' invalidations,
// and returns once the listener is connected.
func (s *Store) StartReplica(ctx context.Context, o ReplicaOptions) (*Replica, error) {
	if s.dialect != Postgres {
		return nil, errors.New("replicas need PostgreSQL: a SQLite database has a single hub")
	}
	if o.ID == "" {
		host, _ := os.Hostname()
		o.ID = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	r := &Replica{s: s, id: o.ID, o: o, done: make(chan struct{}), held: map[string]int64{}}
	r.l = pq.NewListener(s.url, 100*time.Millisecond, 2*time.Second, r.event)
	listened := make(chan error, 1)
	go func() {
		// Listen waits for the connection; Close ends the wait.
		err := r.l.Listen(channelIdentity)
		if err == nil {
			err = r.l.Listen(channelHub)
		}
		listened <- err
	}()
	select {
	case err := <-listened:
		if err != nil {
			r.l.Close()
			return nil, fmt.Errorf("listen for other replicas on %s: %w", redact(s.url), err)
		}
	case <-ctx.Done():
		r.l.Close()
		return nil, fmt.Errorf("listen for other replicas on %s: %w", redact(s.url), ctx.Err())
	}
	r.wg.Add(2)
	go r.loop()
	go r.watch()
	s.log.Info("joined the hub replicas on PostgreSQL", "replica", r.id)
	return r, nil
}

// event follows the listener's connection: while it is down the identity
// cache is deaf, since revocations may go unheard.
func (r *Replica) event(ev pq.ListenerEventType, err error) {
	switch ev {
	case pq.ListenerEventDisconnected:
		r.s.ids.setDeaf(true)
		r.s.log.Warn("lost the connection listening to other replicas; caches off until it is back", "err", err)
	case pq.ListenerEventConnectionAttemptFailed:
		r.s.log.Warn("reconnect to listen to other replicas failed", "err", err)
	case pq.ListenerEventReconnected:
		r.s.log.Info("listening to other replicas again")
	}
}

func (r *Replica) loop() {
	defer r.wg.Done()
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-ping.C:
			// A half-open TCP connection is found only by writing to it.
			go r.l.Ping()
		case n, ok := <-r.l.NotificationChannel():
			if !ok {
				return
			}
			if n == nil {
				// Reconnected: what was sent meanwhile is lost.
				r.s.ids.setDeaf(false)
				if r.o.Resync != nil {
					r.o.Resync()
				}
				continue
			}
			r.dispatch(n.Channel, n.Extra)
		}
	}
}

func (r *Replica) dispatch(channel, extra string) {
	tag, msg, _ := strings.Cut(extra, " ")
	if tag == r.s.tag {
		return // this process's own
	}
	switch channel {
	case channelIdentity:
		r.s.ids.heard(msg)
	case channelHub:
		topic, payload, _ := strings.Cut(msg, " ")
		if r.o.Hear != nil {
			r.o.Hear(topic, payload)
		}
	}
}

// Notify sends topic and payload to the other replicas' Hear, once the
// statement commits (PostgreSQL delivers NOTIFY to every listener, in
// order). Payloads are short: an id, a cluster's name.
func (r *Replica) Notify(ctx context.Context, topic, payload string) error {
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	if _, err := r.s.db.ExecContext(ctx, "SELECT pg_notify($1, $2)", channelHub, r.s.tag+" "+topic+" "+payload); err != nil {
		return fmt.Errorf("notify other replicas of %s %s: %w", topic, payload, err)
	}
	return nil
}

// ID names this replica.
func (r *Replica) ID() string { return r.id }

// Lead reports whether this replica leads name, taking the lead if no
// replica has it. A lock held is checked on its connection first: if the
// connection is gone, so are the locks, and this replica leads nothing
// until it wins them again.
func (r *Replica) Lead(ctx context.Context, name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn != nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := r.conn.PingContext(pctx)
		cancel()
		if err != nil {
			r.lostLocked(err)
		}
	}
	if _, ok := r.held[name]; ok {
		return true
	}
	if r.conn == nil {
		conn, err := r.s.db.Conn(ctx)
		if err != nil {
			r.s.log.Warn("leadership: no database connection", "lock", name, "err", err)
			return false
		}
		if err := conn.QueryRowContext(ctx, "SELECT current_schema()").Scan(&r.schema); err != nil {
			r.conn = conn
			r.lostLocked(err)
			return false
		}
		r.conn = conn
	}
	key := lockKey(r.schema, name)
	var won bool
	if err := r.conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&won); err != nil {
		r.lostLocked(err)
		return false
	}
	if won {
		r.held[name] = key
		r.s.log.Info("leading", "lock", name, "replica", r.id)
	}
	return won
}

// Leads reports whether this replica held name at its last check, without
// asking the database.
func (r *Replica) Leads(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.held[name]
	return ok
}

// Leading names what this replica leads, sorted.
func (r *Replica) Leading() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.held))
}

// watch checks the lock connection every second while it holds a lock,
// so that a replica cut off from the database stops leading within a
// second even between its own polls.
func (r *Replica) watch() {
	defer r.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
		}
		r.mu.Lock()
		if r.conn != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if err := r.conn.PingContext(ctx); err != nil {
				r.lostLocked(err)
			}
			cancel()
		}
		r.mu.Unlock()
	}
}

// lostLocked gives every lock up with its connection, which is closed,
// never returned to the pool: a pooled session would hold the locks on.
func (r *Replica) lostLocked(err error) {
	if len(r.held) > 0 {
		r.s.log.Error("lost the database connection holding leadership; leading nothing until won again",
			"replica", r.id, "led", strings.Join(slices.Sorted(maps.Keys(r.held)), ","), "err", err)
	}
	discard(r.conn)
	r.conn = nil
	clear(r.held)
}

// discard closes c's session: returning driver.ErrBadConn from Raw makes
// database/sql close the connection instead of pooling it.
func discard(c *sql.Conn) {
	if c == nil {
		return
	}
	c.Raw(func(any) error { return driver.ErrBadConn })
	c.Close()
}

// Close stops listening and gives up every lock. Closing twice is harmless.
func (r *Replica) Close() {
	r.stop.Do(func() {
		close(r.done)
		r.l.Close()
		r.wg.Wait()
		r.mu.Lock()
		if r.conn != nil {
			// A stopping hub hands its leads over now; the server would
			// release them anyway once it sees the session end.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			r.conn.ExecContext(ctx, "SELECT pg_advisory_unlock_all()")
			cancel()
		}
		discard(r.conn)
		r.conn = nil
		clear(r.held)
		r.mu.Unlock()
	})
}

// lockKey is the advisory lock's 64-bit key for name: FNV-1a of the
// schema and name, so that hubs in different schemas of one database do
// not contend (advisory locks are per database already).
func lockKey(schema, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("hpcgate\x00" + schema + "\x00" + name))
	return int64(h.Sum64())
}
