package ldapauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/go-ldap/ldap/v3"
)

// maxIdle is how many service-account connections are kept between logins.
// Logins are rare and each takes a few round trips: two are plenty.
const maxIdle = 2

// dial opens a connection to the directory, over TLS as configured, with
// the request timeout set. Every failure is ErrUnavailable.
func (a *Authenticator) dial(ctx context.Context) (*ldap.Conn, error) {
	what := "connect to " + a.cfg.URL
	if err := ctx.Err(); err != nil {
		return nil, unavailable(ctx, what, err)
	}
	ctx, cancel := context.WithTimeout(ctx, a.c.timeout)
	defer cancel()
	d := &net.Dialer{Timeout: a.c.timeout}
	d.Deadline, _ = ctx.Deadline()
	// For ldaps:// the dialer's deadline covers the TLS handshake too.
	c, err := ldap.DialURL(a.cfg.URL, ldap.DialWithDialer(d), ldap.DialWithTLSConfig(a.tls))
	if err != nil {
		return nil, unavailable(ctx, what, err)
	}
	c.SetTimeout(a.c.timeout)
	if a.c.startTLS {
		// The StartTLS handshake has no deadline of its own: closing the
		// connection is what ends one the server leaves hanging.
		stop := context.AfterFunc(ctx, func() { c.Close() })
		err := c.StartTLS(a.tls)
		stop()
		if err != nil {
			c.Close()
			return nil, unavailable(ctx, "start TLS with "+a.cfg.URL, err)
		}
	}
	return c, nil
}

// unavailable wraps err, and the context's error if it ended, as
// ErrUnavailable saying what was being done.
func unavailable(ctx context.Context, what string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w (%w)", cerr, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
}

// transient reports whether a request failed because of the connection or
// the server's state rather than because of what was asked.
func transient(err error) bool {
	var lerr *ldap.Error
	if !errors.As(err, &lerr) {
		// go-ldap reports a failed write as a plain error.
		return true
	}
	switch lerr.ResultCode {
	case ldap.ErrorNetwork, ldap.LDAPResultBusy, ldap.LDAPResultUnavailable,
		ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultServerDown,
		ldap.LDAPResultTimeout, ldap.LDAPResultConnectError:
		return true
	}
	return false
}

// requestError turns a failed request into ErrUnavailable when it is
// transient or the context ended, and into a plain error (a directory that
// refuses what the configuration asks of it) otherwise.
func requestError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil || transient(err) {
		return unavailable(ctx, what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// pool keeps idle connections bound as the service account, so a login
// costs one search instead of a dial, a TLS handshake and a bind.
type pool struct {
	mu     sync.Mutex
	idle   []*ldap.Conn
	closed bool
}

// get returns an idle connection that go-ldap does not already know to be
// closed, or nil.
func (p *pool) get() *ldap.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if !c.IsClosing() {
			return c
		}
		c.Close()
	}
	return nil
}

// put keeps c for the next login, or closes it if the pool is full or closed.
func (p *pool) put(c *ldap.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle) >= maxIdle || c.IsClosing() {
		c.Close()
		return
	}
	p.idle = append(p.idle, c)
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, c := range p.idle {
		c.Close()
	}
	p.idle = nil
}

// serviceConn dials and binds as the service account (anonymous when no
// BindDN is configured). A failed bind is ErrUnavailable: the hub cannot
// look anyone up, whoever is logging in.
func (a *Authenticator) serviceConn(ctx context.Context) (*ldap.Conn, error) {
	c, err := a.dial(ctx)
	if err != nil {
		return nil, err
	}
	if a.cfg.BindDN == "" {
		return c, nil
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	_, err = c.SimpleBind(ldap.NewSimpleBindRequest(a.cfg.BindDN, a.cfg.BindPassword, nil))
	stop()
	if err != nil {
		c.Close()
		what := "bind as service account " + a.cfg.BindDN
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			// The directory answered: the site's secret is wrong, and
			// waiting will not help (the sysadmin reads this, not users).
			what += ": the directory refused its password; check ldap.bind_dn and ldap.bind_password_file"
		}
		return nil, unavailable(ctx, what, err)
	}
	return c, nil
}

// withService runs fn on a connection bound as the service account, taken
// from the pool when one is idle. A pooled connection may have been closed
// by the server since (idle timeouts, restarts): if fn fails on one for a
// transient reason, it is run once more on a fresh connection. fn must
// return go-ldap's errors unwrapped; withService classifies them.
func (a *Authenticator) withService(ctx context.Context, what string, fn func(*ldap.Conn) error) error {
	c := a.pool.get()
	pooled := c != nil
	for {
		if c == nil {
			var err error
			if c, err = a.serviceConn(ctx); err != nil {
				return err
			}
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		err := fn(c)
		if stop() && err == nil {
			a.pool.put(c)
			return nil
		}
		c.Close()
		if err == nil {
			// The context ended just as fn returned; the answer is good.
			return nil
		}
		if pooled && transient(err) && ctx.Err() == nil {
			a.log.Debug("ldap: pooled connection failed, reconnecting", "err", err)
			c, pooled = nil, false
			continue
		}
		return requestError(ctx, what, err)
	}
}
