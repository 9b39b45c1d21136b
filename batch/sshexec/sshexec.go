// Package sshexec runs commands on a cluster's login node and opens tunnels
// through it, over SSH connections that are pooled, kept alive, verified
// against known_hosts and re-established when they die. It implements
// batch.Executor, and Pool.DialContext is what the proxy uses to reach a job.
//
// Two ways of acting as a user are supported (Config.Mode): "certificate",
// where the pool signs a short-lived SSH certificate for each user with the
// site's user CA and connects as that user, and "sudo", where one service
// account connects and runs `sudo -n -u USER -- argv`.
//
// sshexec imports batch and golang.org/x/crypto/ssh only: never gateway, a
// scheduler adapter (slurm, pbs) or anything that reads the site config. It
// reads no files and no environment itself, apart from the explicit helpers
// LoadKnownHosts, KnownHostAlgorithms and LoadSigner that cmd calls.
package sshexec

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"golang.org/x/crypto/ssh"

	"hpcgate/batch"
)

// Mode is how the pool acts as a user on the login node.
type Mode string

const (
	// ModeCertificate connects as each user with a certificate the pool
	// signs; commands run as the user, without sudo.
	ModeCertificate Mode = "certificate"
	// ModeSudo connects once as the service account, which runs users'
	// commands through `sudo -n -u USER --`.
	ModeSudo Mode = "sudo"
)

var (
	// ErrConnection is in the chain of every error caused by the SSH
	// connection rather than by the remote command: a failed dial, a refused
	// host key, a connection lost mid-command, a session the server refused.
	// A *batch.CommandError never carries it.
	ErrConnection = errors.New("login node connection failed")
	// ErrClosed is returned once Close has been called.
	ErrClosed = errors.New("ssh pool closed")
	// ErrOutputLimit is returned when a command writes more to stdout than
	// Config.MaxStdout; the output is not returned, as it is incomplete.
	ErrOutputLimit = errors.New("command output exceeds the limit")
)

// Config is everything the pool needs. The pool reads no files: cmd loads
// keys and known_hosts with LoadSigner and LoadKnownHosts.
type Config struct {
	// Addr is the login node, "host:port". Required.
	Addr string
	// HostKeyCallback verifies the login node's host key. Required: there is
	// no way to skip verification. Use LoadKnownHosts.
	HostKeyCallback ssh.HostKeyCallback
	// HostKeyAlgorithms restricts the host key types negotiated, so the
	// server presents a key type that known_hosts holds (x/crypto prefers
	// ECDSA and RSA over Ed25519). Default: x/crypto's order. Use
	// KnownHostAlgorithms.
	HostKeyAlgorithms []string
	// Mode is ModeCertificate or ModeSudo. Required.
	Mode Mode

	// CASigner is the SSH user CA's private key (certificate mode).
	CASigner ssh.Signer
	// CertLifetime is how long each signed certificate is valid; it is
	// renewed at two thirds of it. Default: 10m.
	CertLifetime time.Duration

	// ServiceUser is the hub's own account on the login node, used for
	// commands with no user (Command.User == "") and for DialContext. In
	// certificate mode it gets a certificate like any user. Required.
	ServiceUser string
	// ServiceSigner is the service account's private key (sudo mode).
	ServiceSigner ssh.Signer

	// MaxSessions bounds the concurrent commands on one connection; more
	// wait their turn (within their context). Default: 8, below OpenSSH's
	// own per-connection MaxSessions of 10.
	MaxSessions int
	// KeepAlive is the interval between keepalive@openssh.com requests; a
	// reply missing by the next one marks the connection dead. Default: 30s.
	KeepAlive time.Duration
	// ConnectTimeout bounds one dial, SSH handshake included. Default: 15s.
	ConnectTimeout time.Duration
	// IdleTimeout closes a user's connection unused for this long; the
	// service connection stays. Default: 10m.
	IdleTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the exponential backoff between
	// attempts to re-establish a lost connection (with jitter).
	// Default: 250ms and 30s.
	ReconnectMin, ReconnectMax time.Duration
	// MaxStdout and MaxStderr bound what is kept of a command's output.
	// More stdout is an error (ErrOutputLimit); more stderr is cut.
	// Default: 16 MiB and 64 KiB.
	MaxStdout, MaxStderr int

	// Logger receives one line per connection event (connect, loss,
	// renewal, idle close) and, at debug level, per command.
	// Default: slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.CertLifetime, 10*time.Minute)
	def(&c.KeepAlive, 30*time.Second)
	def(&c.ConnectTimeout, 15*time.Second)
	def(&c.IdleTimeout, 10*time.Minute)
	def(&c.ReconnectMin, 250*time.Millisecond)
	def(&c.ReconnectMax, 30*time.Second)
	if c.MaxSessions == 0 {
		c.MaxSessions = 8
	}
	if c.MaxStdout == 0 {
		c.MaxStdout = 16 << 20
	}
	if c.MaxStderr == 0 {
		c.MaxStderr = 64 << 10
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports every problem with c (after defaults are applied).
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("addr %q is not host:port", c.Addr)
	}
	if c.HostKeyCallback == nil {
		bad("no host key callback: host keys are always verified (load known_hosts with LoadKnownHosts)")
	}
	if !batch.ValidUser(c.ServiceUser) {
		bad("service user %q is not a valid user name", c.ServiceUser)
	}
	switch c.Mode {
	case ModeCertificate:
		if c.CASigner == nil {
			bad("certificate mode needs the user CA's private key")
		}
		if c.CertLifetime < 2*time.Second || c.CertLifetime > 24*time.Hour {
			bad("certificate lifetime %s is not between 2s and 24h", c.CertLifetime)
		}
	case ModeSudo:
		if c.ServiceSigner == nil {
			bad("sudo mode needs the service account's private key")
		}
	default:
		bad("mode %q is neither %q nor %q", c.Mode, ModeCertificate, ModeSudo)
	}
	if c.MaxSessions < 1 {
		bad("max sessions %d is below 1", c.MaxSessions)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"keepalive", c.KeepAlive}, {"connect timeout", c.ConnectTimeout}, {"idle timeout", c.IdleTimeout},
		{"reconnect min", c.ReconnectMin}, {"reconnect max", c.ReconnectMax},
	} {
		if d.v <= 0 {
			bad("%s %s is not positive", d.name, d.v)
		}
	}
	if c.ReconnectMax < c.ReconnectMin {
		bad("reconnect max %s is below reconnect min %s", c.ReconnectMax, c.ReconnectMin)
	}
	if c.MaxStdout < 1 || c.MaxStderr < 1 {
		bad("output limits %d/%d must be positive", c.MaxStdout, c.MaxStderr)
	}
	if len(errs) > 0 {
		return fmt.Errorf("ssh config: %w", errors.Join(errs...))
	}
	return nil
}

// Stats counts what the pool did since New, for metrics and benchmarks.
type Stats struct {
	Handshakes uint64 // SSH connections established (handshake and auth done)
	Commands   uint64 // Run calls
	Sessions   uint64 // SSH sessions opened (each runs one command)
	Reconnects uint64 // connections re-established after one was lost
	Renewals   uint64 // connections replaced because their certificate aged
	Tunnels    uint64 // tunnels opened by DialContext and DialAs
	Failures   uint64 // dial attempts that failed plus connections lost
	OpenConns  int64  // SSH connections open now

	ForwardsUp    int64  // reverse forwards the login node listens on now
	ForwardSetups uint64 // reverse forwards established (again after each loss)
	ForwardConns  uint64 // connections the login node handed back through them
}
