package sshexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"hpcgate/batch"
)

// cancelGrace is how long a cancelled command waits for the server to
// acknowledge the closed session before Run returns anyway.
const cancelGrace = 2 * time.Second

// Run runs cmd on the login node as cmd.User (the service account when
// empty) and returns its stdout. A command that ran and exited non-zero
// returns its stdout and a *batch.CommandError with the exit code and stderr;
// a failure of the connection returns an error carrying ErrConnection.
//
// Run waits for a free session and for a reconnect within ctx. A command is
// retried at most once, and only when the connection turned out dead before
// its session opened, so it cannot have run; a connection lost while the
// command runs is an error, as the command may have had effects. Cancelling
// ctx sends SIGTERM to the remote command's process group and closes the
// session.
func (p *Pool) Run(ctx context.Context, cmd batch.Command) ([]byte, error) {
	p.n.commands.Add(1)
	line, login, err := p.commandLine(cmd)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", cmd, err)
	}
	what := fmt.Sprintf("run %s as %s", cmd.Argv[0], login)
	if login != cmd.User && cmd.User != "" {
		what = fmt.Sprintf("run %s as %s (sudo by %s)", cmd.Argv[0], cmd.User, login)
	}
	c, err := p.getConn(login)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer p.putConn(c)

	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: waiting for a free session: %w", what, ctx.Err())
	}
	defer func() { <-c.sem }()

	start := time.Now()
	for attempt := 0; ; attempt++ {
		cl, err := c.acquire(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out, retry, err := p.runOn(ctx, cl, cmd, line)
		c.release(cl)
		if retry && attempt == 0 {
			p.log.Info("ssh connection was dead before the command started; retrying once",
				"user", login, "cmd", cmd.Argv[0], "err", err)
			continue
		}
		exit := batch.ExitCode(err)
		if err == nil {
			exit = 0
		}
		p.log.Debug("ssh command", "user", login, "as", cmd.User, "cmd", cmd.Argv[0],
			"exit", exit, "duration", time.Since(start), "err", err)
		var ce *batch.CommandError
		if err != nil && !errors.As(err, &ce) {
			err = fmt.Errorf("%s: %w", what, err)
		}
		return out, err
	}
}

// commandLine is cmd as the one shell command line the server runs, and the
// account it runs under.
func (p *Pool) commandLine(cmd batch.Command) (line, login string, err error) {
	if len(cmd.Argv) == 0 || cmd.Argv[0] == "" {
		return "", "", errors.New("no command")
	}
	for _, a := range cmd.Argv {
		if strings.IndexByte(a, 0) >= 0 {
			return "", "", fmt.Errorf("argument %q contains a NUL byte", a)
		}
	}
	// Both a shell and sudo take a leading NAME=value as an environment
	// assignment rather than the program to run.
	if strings.Contains(cmd.Argv[0], "=") {
		return "", "", fmt.Errorf("program name %q contains '='", cmd.Argv[0])
	}
	login, sudo, err := p.login(cmd.User)
	if err != nil {
		return "", "", err
	}
	argv := cmd.Argv
	if sudo {
		argv = append([]string{"sudo", "-n", "-u", cmd.User, "--"}, cmd.Argv...)
	}
	return batch.QuoteArgv(argv), login, nil
}

// runOn runs line in a new session on cl. retry is true only when the
// session could not be opened because the connection was dead: the command
// never reached the server.
func (p *Pool) runOn(ctx context.Context, cl *client, cmd batch.Command, line string) (stdout []byte, retry bool, err error) {
	if h := p.hooks.beforeSession; h != nil {
		h(cl)
	}
	sess, err := openSession(ctx, cl)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		var refused *ssh.OpenChannelError
		if errors.As(err, &refused) {
			return nil, false, fmt.Errorf("%w: login node refused a session: %w", ErrConnection, err)
		}
		cl.markDead(err)
		return nil, true, fmt.Errorf("%w: open session: %w", ErrConnection, err)
	}
	p.n.sessions.Add(1)
	if h := p.hooks.opened; h != nil {
		h(cl, time.Now())
	}
	defer sess.Close()

	out := &capped{max: p.cfg.MaxStdout}
	errOut := &capped{max: p.cfg.MaxStderr}
	sess.Stdout, sess.Stderr = out, errOut
	// Stdin is written by hand rather than through sess.Stdin, whose copy
	// error would turn a command that exited 0 without reading all of its
	// input into a failure.
	stdin, err := sess.StdinPipe()
	if err != nil {
		return nil, false, fmt.Errorf("%w: stdin: %w", ErrConnection, err)
	}
	if err := sess.Start(line); err != nil {
		// The exec request may have reached the server: never retried.
		return nil, false, fmt.Errorf("%w: start command: %w", ErrConnection, err)
	}
	go func() {
		stdin.Write(cmd.Stdin)
		stdin.Close()
	}()
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// The SSH API takes no context. sshd sends the signal to the
		// command's process group (sudo passes it on to the user's
		// process); closing the channel releases the session either way.
		sess.Signal(ssh.SIGTERM)
		sess.Close()
		select {
		case <-done:
		case <-time.After(cancelGrace):
		}
		return nil, false, ctx.Err()
	}

	var exit *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		if out.cut > 0 {
			return nil, false, fmt.Errorf("%w: more than %d bytes on stdout", ErrOutputLimit, p.cfg.MaxStdout)
		}
		return out.buf.Bytes(), false, nil
	case errors.As(err, &exit):
		// A command killed by a signal reports 128+signal, as a shell would.
		return out.buf.Bytes(), false, &batch.CommandError{Argv: cmd.Argv, ExitCode: exit.ExitStatus(), Stderr: errOut.String()}
	case errors.As(err, &missing):
		return nil, false, fmt.Errorf("%w: the command's exit status never came (it may have run)", ErrConnection)
	default:
		return nil, false, fmt.Errorf("%w: connection lost while the command ran (it may have run): %w", ErrConnection, err)
	}
}

// openSession is cl.NewSession bounded by ctx: on a connection that died
// silently, opening a channel waits until the keepalive notices.
func openSession(ctx context.Context, cl *client) (*ssh.Session, error) {
	type result struct {
		s   *ssh.Session
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := cl.NewSession()
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.s != nil {
				r.s.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// capped keeps the first max bytes written to it and counts the rest, so a
// runaway command cannot exhaust the hub's memory. It never fails a write:
// the remote side must be drained or it would block.
type capped struct {
	max int
	buf bytes.Buffer
	cut int64
}

func (c *capped) Write(b []byte) (int, error) {
	keep := min(len(b), c.max-c.buf.Len())
	c.buf.Write(b[:keep])
	c.cut += int64(len(b) - keep)
	return len(b), nil
}

func (c *capped) String() string {
	if c.cut == 0 {
		return c.buf.String()
	}
	return fmt.Sprintf("%s\n[%d more bytes cut]", c.buf.String(), c.cut)
}
