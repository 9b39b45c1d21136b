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

// client is one established SSH connection.
type client struct {
	*ssh.Client
	sock    *coalescingConn
	p       *Pool
	keyID   string    // the certificate's key id; "" for a plain key
	renewAt time.Time // when to replace it with a fresh certificate; zero for a plain key
	expires time.Time // the certificate's ValidBefore; zero for a plain key

	dead      chan struct{} // closed once the connection is known to be gone
	deadOnce  sync.Once
	deadErr   error
	closeOnce sync.Once

	active  int  // sessions and tunnels open on it; guarded by the conn's mu
	retired bool // no new use; closed when active drops to 0; guarded by the conn's mu
}

// usable reports whether a new session or tunnel may be opened on cl at now.
// A certificate is never used past its expiry, even on a connection it
// authenticated earlier, so revoking a user takes at most CertLifetime.
func (cl *client) usable(now time.Time) bool {
	select {
	case <-cl.dead:
		return false
	default:
	}
	return !cl.retired && (cl.expires.IsZero() || now.Before(cl.expires))
}

// markDead records why the connection is gone and closes it, which fails
// whatever still runs on it instead of leaving it hanging.
func (cl *client) markDead(err error) {
	cl.deadOnce.Do(func() {
		cl.deadErr = err
		close(cl.dead)
	})
	cl.close()
}

func (cl *client) close() {
	cl.closeOnce.Do(func() {
		cl.Client.Close()
		cl.p.n.openConns.Add(-1)
	})
}

// dial connects and authenticates as login, and starts watching the new
// connection. Errors carry ErrConnection.
func (p *Pool) dial(ctx context.Context, login string) (*client, error) {
	cl, err := p.handshake(ctx, login)
	if err != nil {
		return nil, fmt.Errorf("%w: ssh %s@%s: %w", ErrConnection, login, p.cfg.Addr, err)
	}
	p.n.handshakes.Add(1)
	p.n.openConns.Add(1)
	go func() {
		err := cl.Wait()
		cl.markDead(fmt.Errorf("connection closed: %w", err))
	}()
	go p.keepalive(cl)
	return cl, nil
}

func (p *Pool) handshake(ctx context.Context, login string) (*client, error) {
	cl := &client{p: p, dead: make(chan struct{})}
	var signer ssh.Signer
	if p.certs != nil {
		c, err := p.certs.get(login)
		if err != nil {
			return nil, err
		}
		signer, cl.keyID, cl.renewAt, cl.expires = c.signer, c.cert.KeyId, c.renewAt, c.expires
	} else {
		signer = p.cfg.ServiceSigner
	}
	cfg := &ssh.ClientConfig{
		User:              login,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   p.verifyHostKey,
		HostKeyAlgorithms: p.cfg.HostKeyAlgorithms,
		ClientVersion:     "SSH-2.0-hpcgate",
		Config:            ssh.Config{Ciphers: tunnelCiphers},
	}

	ctx, cancel := context.WithTimeout(ctx, p.cfg.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	tc, err := d.DialContext(ctx, "tcp", p.cfg.Addr)
	if err != nil {
		return nil, err
	}
	nc := newCoalescingConn(tc)
	cl.sock = nc
	// The handshake takes no context: a deadline on the socket bounds it,
	// and closing the socket aborts it if ctx ends first (pool closed).
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(nc, p.cfg.Addr, cfg)
	if !stop() {
		if err == nil {
			sc.Close()
		}
		return nil, fmt.Errorf("handshake: %w", ctx.Err())
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	cl.Client = ssh.NewClient(sc, chans, reqs)
	return cl, nil
}

// tunnelCiphers puts AES-GCM first, whatever x/crypto's default order
// becomes: every byte a notebook sends goes through this cipher, and on
// CPUs with AES instructions it is about three times as fast as
// ChaCha20-Poly1305, which OpenSSH's client prefers (measured on the
// loopback cluster, BenchmarkTunnelThroughput, 1 MiB writes: aes128-gcm
// 370-460 MB/s, aes256-gcm 530-570, chacha20-poly1305 156-161, aes128-ctr
// 400-430; `ssh -L` 160). The server picks the first of these it allows.
// The channel window and packet sizes are x/crypto/ssh's constants (2 MiB
// and 32 KiB), the same as OpenSSH's for forwarded connections.
var tunnelCiphers = []string{
	ssh.CipherAES128GCM, ssh.CipherAES256GCM, ssh.CipherChaCha20Poly1305,
	ssh.CipherAES128CTR, ssh.CipherAES192CTR, ssh.CipherAES256CTR,
}

// verifyHostKey runs the configured callback and makes sure a refusal names
// the host, port and offered key, whatever callback cmd supplied.
func (p *Pool) verifyHostKey(hostname string, remote net.Addr, key ssh.PublicKey) error {
	err := p.cfg.HostKeyCallback(hostname, remote, key)
	if err == nil {
		return nil
	}
	var hk *HostKeyError
	if errors.As(err, &hk) {
		return err
	}
	return newHostKeyError(hostname, remote, key, "", err)
}

// keepalive sends keepalive@openssh.com every KeepAlive and marks cl dead
// when a reply has not come by the next one: a login node that vanished
// without closing TCP (a reboot, a dropped route) is otherwise noticed only
// after the kernel's retransmission timeout, many minutes later.
func (p *Pool) keepalive(cl *client) {
	interval := p.cfg.KeepAlive
	tick := time.NewTicker(interval)
	defer tick.Stop()
	reply := make(chan error, 1)
	for {
		select {
		case <-cl.dead:
			return
		case <-tick.C:
		}
		go func() {
			// OpenSSH answers with a failure message: any answer means alive.
			_, _, err := cl.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		timeout := time.NewTimer(interval)
		select {
		case err := <-reply:
			timeout.Stop()
			if err != nil {
				cl.markDead(fmt.Errorf("keepalive: %w", err))
				return
			}
		case <-timeout.C:
			cl.markDead(fmt.Errorf("no reply to keepalive within %s", interval))
			return
		case <-cl.dead:
			timeout.Stop()
			return
		}
	}
}
