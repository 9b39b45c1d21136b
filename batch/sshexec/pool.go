package sshexec

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"hpcgate/batch"
)

// Pool holds one SSH connection per identity on one login node and shares it
// between every command and tunnel of that identity. It is safe for
// concurrent use. The zero value is not usable: call New.
type Pool struct {
	cfg   Config
	log   *slog.Logger
	certs *certCache // nil in sudo mode

	// ctx ends when Close is called; dials and maintainers watch it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per maintainer goroutine

	mu     sync.Mutex
	conns  map[string]*conn // by login name
	closed bool

	n counters

	// hooks let tests observe the invariants that leave no outside trace.
	hooks struct {
		beforeSession func(*client)            // just before a session is opened on cl
		opened        func(*client, time.Time) // a session or tunnel was opened on cl at t
	}
}

type counters struct {
	handshakes, commands, sessions, reconnects, renewals, tunnels, failures atomic.Uint64
	forwardSetups, forwardConns                                             atomic.Uint64
	openConns, forwardsUp                                                   atomic.Int64
}

var _ batch.Executor = (*Pool)(nil)

// New checks cfg, fills in its defaults and returns a pool. It does not
// connect: the first command or tunnel of each identity does.
func New(cfg Config) (*Pool, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Pool{
		cfg:   cfg,
		log:   cfg.Logger.With("addr", cfg.Addr),
		conns: map[string]*conn{},
	}
	if cfg.Mode == ModeCertificate {
		p.certs = newCertCache(cfg.CASigner, cfg.CertLifetime)
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	return Stats{
		Handshakes: p.n.handshakes.Load(),
		Commands:   p.n.commands.Load(),
		Sessions:   p.n.sessions.Load(),
		Reconnects: p.n.reconnects.Load(),
		Renewals:   p.n.renewals.Load(),
		Tunnels:    p.n.tunnels.Load(),
		Failures:   p.n.failures.Load(),
		OpenConns:  p.n.openConns.Load(),

		ForwardsUp:    p.n.forwardsUp.Load(),
		ForwardSetups: p.n.forwardSetups.Load(),
		ForwardConns:  p.n.forwardConns.Load(),
	}
}

// Close closes every connection, ending running commands and open tunnels,
// and waits for the pool's goroutines. Later calls return ErrClosed.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	return nil
}

// login is the account the pool connects as to act for user ("" for the
// service identity), and whether the command must go through sudo.
func (p *Pool) login(user string) (login string, sudo bool, err error) {
	if user == "" || user == p.cfg.ServiceUser {
		return p.cfg.ServiceUser, false, nil
	}
	if !batch.ValidUser(user) {
		return "", false, fmt.Errorf("%q is not a valid user name", user)
	}
	if p.cfg.Mode == ModeSudo {
		return p.cfg.ServiceUser, true, nil
	}
	return user, false, nil
}

// getConn returns login's connection, creating it (and starting its
// maintainer) on first use. The caller holds a reference until putConn, which
// keeps the connection from being closed as idle.
func (p *Pool) getConn(login string) (*conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	c := p.conns[login]
	if c == nil {
		c = newConn(p, login)
		p.conns[login] = c
		p.wg.Add(1)
		go c.maintain()
	}
	c.refs++
	c.lastUsed = time.Now()
	return c, nil
}

func (p *Pool) putConn(c *conn) {
	p.mu.Lock()
	c.refs--
	c.lastUsed = time.Now()
	p.mu.Unlock()
}

// forget removes c from the pool so the next user of its login starts afresh.
func (p *Pool) forget(c *conn) {
	p.mu.Lock()
	if p.conns[c.login] == c {
		delete(p.conns, c.login)
	}
	p.mu.Unlock()
}

// idle reports whether c has been unused for IdleTimeout, and if so removes
// it from the pool in the same critical section, so no new user can pick it
// up in between. Otherwise it says when to ask again. The service connection
// is never idle.
func (p *Pool) idle(c *conn) (idle bool, next time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	switch until := c.lastUsed.Add(p.cfg.IdleTimeout); {
	case c.login == p.cfg.ServiceUser || c.refs > 0:
		return false, now.Add(p.cfg.IdleTimeout)
	case now.Before(until):
		return false, until
	}
	if p.conns[c.login] == c {
		delete(p.conns, c.login)
	}
	return true, now
}
