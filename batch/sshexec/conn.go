package sshexec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// conn is the pool's connection for one login name. Its maintainer goroutine
// alone dials: it connects, watches the client, replaces it when it dies or
// its certificate ages, and closes it when idle. Commands and tunnels only
// wait for a usable client (acquire) and hand it back (release), so however
// many of them arrive while the connection is down, there is one dial.
type conn struct {
	p     *Pool
	login string
	sem   chan struct{} // one slot per concurrent session

	refs     int       // commands and tunnels using this conn; guarded by p.mu
	lastUsed time.Time // guarded by p.mu

	mu      sync.Mutex
	cur     *client              // nil while (re)connecting
	clients map[*client]struct{} // every open client: cur and retired ones still in use
	changed chan struct{}        // closed and replaced at every change, to wake waiters
	fails   uint64               // failed dial attempts so far
	lastErr error                // of the last failed attempt, nil once connected
	everUp  bool
	done    error // set once the conn has ended: ErrClosed, or the first dial's error
}

func newConn(p *Pool, login string) *conn {
	return &conn{
		p:       p,
		login:   login,
		sem:     make(chan struct{}, p.cfg.MaxSessions),
		clients: map[*client]struct{}{},
		changed: make(chan struct{}),
	}
}

// broadcast wakes every waiter; c.mu is held.
func (c *conn) broadcast() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// acquire waits, within ctx, for a usable client and reserves it until
// release. While the connection is being re-established it waits for the
// reconnect; it gives up early only when the connection never came up or the
// failure cannot heal by retrying (a refused host key or login).
func (c *conn) acquire(ctx context.Context) (*client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := c.fails
	for {
		if c.done != nil {
			return nil, c.done
		}
		if cl := c.cur; cl != nil && cl.usable(time.Now()) {
			cl.active++
			return cl, nil
		}
		if c.fails > seen && (!c.everUp || permanent(c.lastErr)) {
			return nil, c.lastErr
		}
		wake := c.changed
		c.mu.Unlock()
		select {
		case <-wake:
			c.mu.Lock()
		case <-ctx.Done():
			c.mu.Lock()
			if c.lastErr != nil {
				return nil, fmt.Errorf("%w: waiting for the connection as %s: %w (last attempt: %w)",
					ErrConnection, c.login, ctx.Err(), c.lastErr)
			}
			return nil, fmt.Errorf("%w: waiting for the connection as %s: %w", ErrConnection, c.login, ctx.Err())
		}
	}
}

// release hands back a client from acquire. A retired client is closed when
// its last user is done.
func (c *conn) release(cl *client) {
	c.mu.Lock()
	cl.active--
	last := cl.retired && cl.active == 0
	if last {
		delete(c.clients, cl)
	}
	c.mu.Unlock()
	if last {
		cl.close()
	}
}

// install makes cl the client new commands use.
func (c *conn) install(cl *client) {
	c.mu.Lock()
	c.cur = cl
	c.clients[cl] = struct{}{}
	c.everUp = true
	c.lastErr = nil
	c.broadcast()
	c.mu.Unlock()
}

// retire stops new use of cl; what already runs on it finishes, then it closes.
func (c *conn) retire(cl *client) {
	c.mu.Lock()
	cl.retired = true
	if c.cur == cl {
		c.cur = nil
		c.broadcast()
	}
	last := cl.active == 0
	if last {
		delete(c.clients, cl)
	}
	c.mu.Unlock()
	if last {
		cl.close()
	}
}

// shutdown ends the conn: waiters get c.done, every client is closed.
func (c *conn) shutdown() {
	c.mu.Lock()
	if c.done == nil {
		c.done = ErrClosed
	}
	c.cur = nil
	all := make([]*client, 0, len(c.clients))
	for cl := range c.clients {
		cl.retired = true
		all = append(all, cl)
	}
	clear(c.clients)
	c.broadcast()
	c.mu.Unlock()
	for _, cl := range all {
		cl.close()
	}
}

// maintain is the conn's goroutine: dial, serve until the client must be
// replaced, repeat, with backoff between failed attempts.
func (c *conn) maintain() {
	defer c.p.wg.Done()
	defer c.shutdown()
	log := c.p.log.With("user", c.login)
	var b backoff
	reason := "connect"
	for {
		cl, err := c.p.dial(c.p.ctx, c.login)
		if err != nil {
			if c.p.ctx.Err() != nil {
				return
			}
			c.p.n.failures.Add(1)
			c.mu.Lock()
			c.fails++
			c.lastErr = err
			first := !c.everUp
			if first {
				// Nobody has relied on this connection yet: report the error
				// to whoever is waiting and let the next command try afresh,
				// rather than retrying in the background for a login that
				// may never work.
				c.done = err
			}
			c.broadcast()
			c.mu.Unlock()
			if first {
				c.p.forget(c)
				log.Warn("ssh connect failed", "err", err)
				return
			}
			d := b.next(c.p.cfg.ReconnectMin, c.p.cfg.ReconnectMax)
			log.Warn("ssh reconnect failed", "err", err, "retry_in", d.Round(time.Millisecond))
			if !c.sleep(d) {
				return
			}
			continue
		}
		b = backoff{}
		switch reason {
		case "reconnect":
			c.p.n.reconnects.Add(1)
		case "renew":
			c.p.n.renewals.Add(1)
		}
		log.Info("ssh connected", "reason", reason, "key_id", cl.keyID)
		c.install(cl)
		if reason = c.serve(cl, log); reason == "" {
			return
		}
	}
}

// serve watches cl while it is current. It returns why a new client is
// needed ("reconnect", "renew"), or "" when the conn must end (pool closed,
// idle). A certificate is renewed at two thirds of its life by dialing a new
// client before retiring the old one, so nothing waits for the handshake; if
// that keeps failing, the old client is still used until its certificate
// expires, and never after.
func (c *conn) serve(cl *client, log *slog.Logger) string {
	renew, expire := timerAt(cl.renewAt), timerAt(cl.expires)
	defer renew.Stop()
	defer expire.Stop()
	idle := time.NewTimer(c.p.cfg.IdleTimeout)
	defer idle.Stop()
	var b backoff
	for {
		select {
		case <-c.p.ctx.Done():
			return ""
		case <-cl.dead:
			c.p.n.failures.Add(1)
			log.Warn("ssh connection lost", "err", cl.deadErr, "key_id", cl.keyID)
			c.retire(cl)
			return "reconnect"
		case <-expire.C:
			log.Warn("ssh certificate expired before it was renewed", "key_id", cl.keyID)
			c.retire(cl)
			return "renew"
		case <-renew.C:
			nc, err := c.p.dial(c.p.ctx, c.login)
			if err != nil {
				if c.p.ctx.Err() != nil {
					return ""
				}
				c.p.n.failures.Add(1)
				d := b.next(c.p.cfg.ReconnectMin, c.p.cfg.ReconnectMax)
				log.Warn("ssh certificate renewal failed", "err", err, "retry_in", d.Round(time.Millisecond))
				renew.Reset(d)
				continue
			}
			b = backoff{}
			c.p.n.renewals.Add(1)
			log.Info("ssh connected", "reason", "renew", "key_id", nc.keyID, "old_key_id", cl.keyID)
			c.install(nc)
			c.retire(cl)
			cl = nc
			renew.Reset(time.Until(cl.renewAt))
			expire.Reset(time.Until(cl.expires))
		case <-idle.C:
			isIdle, next := c.p.idle(c)
			if isIdle {
				log.Info("ssh connection closed", "reason", "idle", "key_id", cl.keyID)
				return ""
			}
			idle.Reset(time.Until(next))
		}
	}
}

// sleep waits d between reconnect attempts; false means stop trying (the
// pool closed, or nobody used the connection for IdleTimeout).
func (c *conn) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.p.ctx.Done():
		return false
	case <-t.C:
	}
	if idle, _ := c.p.idle(c); idle {
		c.p.log.Info("ssh connection closed", "user", c.login, "reason", "idle while reconnecting")
		return false
	}
	return true
}

// timerAt fires at t; it never fires for the zero time (a plain key has no
// expiry).
func timerAt(t time.Time) *time.Timer {
	tm := time.NewTimer(time.Until(t))
	if t.IsZero() {
		tm.Stop()
	}
	return tm
}

// backoff is exponential with jitter, so that many hubs (or many users'
// connections) that lost the login node together do not retry in step.
type backoff struct{ n int }

func (b *backoff) next(lo, hi time.Duration) time.Duration {
	d := lo << min(b.n, 30)
	if d > hi || d <= 0 {
		d = hi
	}
	b.n++
	return d/2 + rand.N(d/2+1)
}

// permanent reports whether a dial error will recur however often it is
// retried: waiting for a reconnect is pointless then.
func permanent(err error) bool {
	var hk *HostKeyError
	return errors.As(err, &hk) || err != nil && strings.Contains(err.Error(), "unable to authenticate")
}
