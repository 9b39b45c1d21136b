package services

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"hpcgate/gateway/config"
)

// Defaults of Options.
const (
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = time.Minute
	DefaultStopGrace  = 5 * time.Second
)

// Options configure Start.
type Options struct {
	Hub    Hub
	Logger *slog.Logger
	// MinBackoff is the pause before the first restart, doubled at each
	// exit up to MaxBackoff; a run that lasted MaxBackoff or more starts
	// the pauses over. Defaults: 1s and 1m.
	MinBackoff, MaxBackoff time.Duration
	// StopGrace is how long a service has to exit after SIGTERM before
	// it is killed. Default: 5s.
	StopGrace time.Duration
}

// Supervisor runs the managed services.
type Supervisor struct {
	procs  map[string]*proc
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type proc struct {
	svc   *config.Service
	env   []string
	pid   atomic.Int64
	log   *slog.Logger
	o     *Options
	start atomic.Int64 // starts so far, for tests and the log
}

// Start starts every managed service of svcs, with tokens from Tokens, and
// keeps them running until Stop. External services are left alone.
func Start(svcs []config.Service, tokens map[string]string, o Options) (*Supervisor, error) {
	if err := CheckUsers(svcs); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.StopGrace <= 0 {
		o.StopGrace = DefaultStopGrace
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Supervisor{procs: map[string]*proc{}, cancel: cancel}
	for i := range svcs {
		sv := &svcs[i]
		if !sv.Managed() {
			continue
		}
		p := &proc{svc: sv, env: environ(Environment(sv, tokens[sv.Name], o.Hub, hubGetenv)),
			log: o.Logger.With("service", sv.Name), o: &o}
		s.procs[sv.Name] = p
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			p.run(ctx)
		}()
	}
	return s, nil
}

// PID is the process id of the managed service name, 0 when it is not
// running (or not managed).
func (s *Supervisor) PID(name string) int {
	if p := s.procs[name]; p != nil {
		return int(p.pid.Load())
	}
	return 0
}

// Stop ends every managed service (SIGTERM to its process group, SIGKILL
// after the grace) and waits for them.
func (s *Supervisor) Stop() {
	s.cancel()
	s.wg.Wait()
}

// run starts the service again each time it exits, until ctx ends.
func (p *proc) run(ctx context.Context) {
	backoff := p.o.MinBackoff
	for {
		began := time.Now()
		err := p.once(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) >= p.o.MaxBackoff {
			backoff = p.o.MinBackoff
		}
		p.log.Error("service exited; restarting", "err", err, "ran", time.Since(began).Round(time.Millisecond), "restart_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, p.o.MaxBackoff)
	}
}

// once runs the service until it exits or ctx ends.
func (p *proc) once(ctx context.Context) error {
	sv := p.svc
	cmd := exec.CommandContext(ctx, sv.Command[0], sv.Command[1:]...)
	cmd.Env = p.env
	cmd.Dir = sv.Cwd
	// Its own process group: the hub's terminal signals do not reach it,
	// and stopping it stops what it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = p.o.StopGrace
	// Pipes of the hub's own, so Wait (bounded by WaitDelay) never
	// hangs on a grandchild holding the service's output open.
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	cmd.Stdout, cmd.Stderr = outW, errW
	var out sync.WaitGroup
	out.Add(2)
	go func() { defer out.Done(); p.logLines(outR, "stdout") }()
	go func() { defer out.Done(); p.logLines(errR, "stderr") }()
	defer func() {
		outW.Close()
		errW.Close()
		out.Wait()
	}()
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	p.pid.Store(int64(pid))
	n := p.start.Add(1)
	p.log.Info("service started", "pid", pid, "start", n, "command", sv.Command)
	err := cmd.Wait()
	p.pid.Store(0)
	if ctx.Err() != nil {
		// Whatever it left in its group goes too.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		p.log.Info("service stopped", "pid", pid)
		return nil
	}
	if err == nil {
		err = errors.New("exit status 0")
	}
	return err
}

// maxLine bounds one logged line of a service's output.
const maxLine = 4096

// logLines logs r line by line, each bounded to maxLine bytes.
func (p *proc) logLines(r io.Reader, stream string) {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, isPrefix, err := br.ReadLine()
		if len(line) > 0 || (err == nil && !isPrefix) {
			p.log.Info("service output", "stream", stream, "line", string(line))
		}
		if isPrefix {
			// The rest of an over-long line is dropped.
			for isPrefix && err == nil {
				_, isPrefix, err = br.ReadLine()
			}
		}
		if err != nil {
			// Drain, so a writer never blocks on a reader that left.
			_, _ = io.Copy(io.Discard, r)
			return
		}
	}
}
