package sshexec

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// DialContext opens a tunnel through the login node to addr, over the
// service identity's connection: "tcp" (direct-tcpip) to host:port as the
// login node resolves it, or "unix" (direct-streamlocal@openssh.com) to a
// socket path. It has the signature of http.Transport.DialContext. ctx bounds
// opening the tunnel only, not its use.
func (p *Pool) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return p.tunnel(ctx, p.cfg.ServiceUser, network, addr)
}

// DialAs is DialContext over user's own connection, so the login node opens
// the socket with the user's permissions (a 0600 unix socket in their home).
// In sudo mode there is no connection as the user: TCP tunnels go over the
// service connection (TCP ports are not per-user) and unix sockets are
// refused.
func (p *Pool) DialAs(ctx context.Context, user, network, addr string) (net.Conn, error) {
	login, sudo, err := p.login(user)
	if err != nil {
		return nil, fmt.Errorf("tunnel to %s %s as %s: %w", network, addr, user, err)
	}
	if sudo && network == "unix" {
		return nil, fmt.Errorf("tunnel to unix socket %s as %s: sudo mode has no connection as the user; use certificate mode", addr, user)
	}
	return p.tunnel(ctx, login, network, addr)
}

func (p *Pool) tunnel(ctx context.Context, login, network, addr string) (net.Conn, error) {
	what := fmt.Sprintf("tunnel to %s %s as %s", network, addr, login)
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
	default:
		return nil, fmt.Errorf("%s: unsupported network", what)
	}
	c, err := p.getConn(login)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	for attempt := 0; ; attempt++ {
		cl, err := c.acquire(ctx)
		if err != nil {
			p.putConn(c)
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		nc, err := cl.DialContext(ctx, network, addr)
		if err == nil {
			p.n.tunnels.Add(1)
			if h := p.hooks.opened; h != nil {
				h(cl, time.Now())
			}
			t := &tunnelConn{Conn: nc, sock: cl.sock}
			t.done = func() {
				c.release(cl)
				p.putConn(c)
			}
			return t, nil
		}
		c.release(cl)
		var refused *ssh.OpenChannelError
		switch {
		case ctx.Err() != nil:
			err = ctx.Err()
		case errors.As(err, &refused):
			// The connection is fine; the login node could not reach addr
			// (nothing listening, forwarding not permitted).
		default:
			cl.markDead(err)
			err = fmt.Errorf("%w: %w", ErrConnection, err)
			if attempt == 0 {
				// Opening a tunnel has no side effects: try the reconnect.
				continue
			}
		}
		p.putConn(c)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
}

// tunnelConn holds its client until closed, so a connection retired for
// renewal stays open under a long-lived tunnel (a WebSocket) and a user's
// connection is not closed as idle while a tunnel uses it.
type tunnelConn struct {
	net.Conn
	sock *coalescingConn // the SSH connection's socket
	once sync.Once
	done func()
}

// Write sends p and flushes the SSH connection's socket, so the data
// leaves now, on this goroutine.
func (t *tunnelConn) Write(p []byte) (int, error) {
	n, err := t.Conn.Write(p)
	if err == nil && t.sock != nil {
		err = t.sock.Flush()
	}
	return n, err
}

// CloseWrite half-closes the tunnel, sending EOF to the far end, as
// *net.TCPConn does; proxies of upgraded connections rely on it.
func (t *tunnelConn) CloseWrite() error {
	if cw, ok := t.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

func (t *tunnelConn) Close() error {
	err := t.Conn.Close()
	t.once.Do(t.done)
	return err
}
