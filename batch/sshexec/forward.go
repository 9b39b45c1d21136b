package sshexec

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// ErrForwardRefused is in the chain of the error a Forward reports when the
// login node's sshd answered the tcpip-forward request with a refusal (its
// GatewayPorts, PermitListen or AllowTcpForwarding settings), rather than
// the connection failing. Retrying does not help until the site changes
// sshd's configuration.
var ErrForwardRefused = errors.New("login node refused the reverse forward")

// Forward is a remote ("reverse") port forward: the login node's sshd
// listens on an address of the login node and hands every connection made
// to it back over the service identity's pooled connection. Forward is the
// net.Listener of those connections, so an http.Server serves them in this
// process with no local socket.
//
// The forward follows its connection: when the connection is lost it is
// requested again on the reconnected one, and when a certificate renewal
// replaces the connection it moves to the new one. Between the two, Accept
// simply waits. Close cancels the forward on the login node.
type Forward struct {
	p    *Pool
	bind *net.TCPAddr

	ctx    context.Context // ends at Close or when the pool closes
	cancel context.CancelFunc
	done   chan struct{} // closed when the maintainer has returned
	conns  chan net.Conn

	mu      sync.Mutex
	up      bool
	since   time.Time     // when up last changed
	lastErr error         // why it is down; nil while up
	tried   chan struct{} // closed after the first attempt, whatever its outcome
	triedOK bool
}

// ForwardStatus is what a Forward reports for health checks and logs.
type ForwardStatus struct {
	Bind  string    // the address the login node listens on, host:port
	Up    bool      // the login node listens now
	Since time.Time // when Up last changed
	Err   error     // why it is down (nil while up, or before the first attempt)
}

// Forward asks the login node to listen on bind, an IP address of the login
// node and a port ("10.0.0.1:8081"), over the service identity's
// connection, and keeps the forward up until Close or the pool's Close. It
// returns at once: use WaitUp to learn the first attempt's outcome. The
// address must be an IP, as x/crypto matches the connections sshd hands
// back against it, and the hub cannot resolve the login node's own names.
func (p *Pool) Forward(bind string) (*Forward, error) {
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return nil, fmt.Errorf("reverse forward %q: %w", bind, err)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, fmt.Errorf("reverse forward %q: %q is not an IP address", bind, host)
	}
	addr, err := net.ResolveTCPAddr("tcp", net.JoinHostPort(ip.String(), port))
	if err != nil || addr.Port == 0 {
		return nil, fmt.Errorf("reverse forward %q: the port must be a number from 1 to 65535", bind)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	f := &Forward{p: p, bind: addr, done: make(chan struct{}), conns: make(chan net.Conn), tried: make(chan struct{})}
	f.ctx, f.cancel = context.WithCancel(p.ctx)
	p.wg.Add(1)
	go f.maintain()
	return f, nil
}

// Accept waits for the next connection made to the forwarded address. It
// fails only once the forward is closed (net.ErrClosed).
func (f *Forward) Accept() (net.Conn, error) {
	select {
	case c := <-f.conns:
		return c, nil
	case <-f.ctx.Done():
		return nil, fmt.Errorf("reverse forward on %s: %w", f.bind, net.ErrClosed)
	}
}

// Addr is the address the login node listens on.
func (f *Forward) Addr() net.Addr { return f.bind }

// Close cancels the forward on the login node and ends Accept. Connections
// already accepted stay open until their user closes them or the pool's
// connection closes.
func (f *Forward) Close() error {
	f.cancel()
	<-f.done
	return nil
}

// WaitUp waits, within ctx, for the first attempt to establish the forward
// and returns its error: nil when the login node listens, an error carrying
// ErrForwardRefused when sshd refused, or the connection's error. The
// forward keeps retrying in the background either way.
func (f *Forward) WaitUp(ctx context.Context) error {
	select {
	case <-f.tried:
	case <-ctx.Done():
		return fmt.Errorf("reverse forward on %s: waiting for the login node: %w", f.bind, ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.triedOK {
		return nil
	}
	return f.lastErr
}

// Status reports whether the forward is up now.
func (f *Forward) Status() ForwardStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return ForwardStatus{Bind: f.bind.String(), Up: f.up, Since: f.since, Err: f.lastErr}
}

func (f *Forward) set(up bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if up != f.up {
		f.since = time.Now()
		if up {
			f.p.n.forwardsUp.Add(1)
		} else {
			f.p.n.forwardsUp.Add(-1)
		}
	}
	f.up, f.lastErr = up, err
	select {
	case <-f.tried:
	default:
		f.triedOK = up
		close(f.tried)
	}
}

// maintain is the forward's goroutine: establish, hold until the
// connection goes away or is replaced, repeat. A lost connection is
// followed at once (acquire waits for the pool's reconnect, which has its
// own backoff); a refusal or a failed connection backs off.
func (f *Forward) maintain() {
	defer f.p.wg.Done()
	defer close(f.done)
	defer f.set(false, ErrClosed)
	log := f.p.log.With("user", f.p.cfg.ServiceUser, "bind", f.bind.String())
	var b backoff
	for f.ctx.Err() == nil {
		wasUp, err := f.hold(log)
		if f.ctx.Err() != nil {
			return
		}
		if wasUp {
			b = backoff{}
			continue
		}
		f.p.n.failures.Add(1)
		f.set(false, err)
		d := b.next(f.p.cfg.ReconnectMin, f.p.cfg.ReconnectMax)
		if !errors.Is(err, ErrForwardRefused) {
			// A connection that is coming back (sshd restarting, the
			// port not yet released by the old listener) is retried at
			// least every second, so the forward returns within a poll
			// interval; only a refusal, which needs a sysadmin, backs
			// off as far as ReconnectMax.
			d = min(d, time.Second)
		}
		log.Warn("ssh reverse forward failed", "err", err, "retry_in", d.Round(time.Millisecond))
		t := time.NewTimer(d)
		select {
		case <-f.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// hold establishes the forward on the service connection's current client
// and keeps it until that client dies or is replaced, or the forward ends.
// wasUp reports whether the login node listened at all.
func (f *Forward) hold(log interface{ Info(string, ...any) }) (wasUp bool, err error) {
	c, err := f.p.getConn(f.p.cfg.ServiceUser)
	if err != nil {
		return false, fmt.Errorf("reverse forward on %s: %w", f.bind, err)
	}
	defer f.p.putConn(c)
	cl, err := c.acquire(f.ctx)
	if err != nil {
		return false, fmt.Errorf("reverse forward on %s: %w", f.bind, err)
	}
	defer c.release(cl)
	ln, err := cl.ListenTCP(f.bind)
	if err != nil {
		if strings.Contains(err.Error(), "denied by peer") {
			return false, fmt.Errorf("%w on %s: check GatewayPorts clientspecified or PermitListen for user %s in the login node's sshd_config",
				ErrForwardRefused, f.bind, f.p.cfg.ServiceUser)
		}
		return false, fmt.Errorf("%w: reverse forward on %s: %w", ErrConnection, f.bind, err)
	}
	f.p.n.forwardSetups.Add(1)
	f.set(true, nil)
	log.Info("ssh reverse forward up", "key_id", cl.keyID)

	accepting := make(chan error, 1)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				accepting <- err
				return
			}
			f.p.n.forwardConns.Add(1)
			select {
			case f.conns <- nc:
			case <-f.ctx.Done():
				nc.Close()
			}
		}
	}()
	reason := ""
	for reason == "" {
		c.mu.Lock()
		wake, replaced := c.changed, c.cur != nil && c.cur != cl
		c.mu.Unlock()
		if replaced {
			reason = "connection replaced"
			break
		}
		select {
		case err := <-accepting:
			reason = "connection lost: " + err.Error()
		case <-wake:
		case <-f.ctx.Done():
			reason = "closed"
		}
	}
	// Cancelling tells sshd to stop listening (so a replacement can bind
	// the port); on a dead connection it fails at once, and on a hung one
	// it must not hold the forward down for longer than a dial would.
	cancelled := make(chan struct{})
	go func() {
		ln.Close()
		close(cancelled)
	}()
	select {
	case <-cancelled:
	case <-time.After(f.p.cfg.ConnectTimeout):
	}
	f.set(false, fmt.Errorf("reverse forward on %s: %s", f.bind, reason))
	log.Info("ssh reverse forward down", "reason", reason)
	return true, nil
}
