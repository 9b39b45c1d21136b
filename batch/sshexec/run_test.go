package sshexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"hpcgate/batch"
)

// homeFile writes content to a 0600 file owned by login in their home
// directory and returns its name relative to the home.
func homeFile(t *testing.T, login, content string) string {
	t.Helper()
	u, err := user.Lookup(login)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf(".sshexec-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	path := filepath.Join(u.HomeDir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(path) })
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestRunAsUser(t *testing.T) {
	n := newLoginNode(t)
	// Readable by alice alone, and named relative to her home: reading it
	// proves both who ran the command and where.
	secret := homeFile(t, "alice", "alice's secret\n")
	tests := []struct {
		name  string
		mode  Mode
		user  string
		argv  []string
		stdin string
		want  string
	}{
		{"certificate: user", ModeCertificate, "alice", []string{"id", "-un"}, "", "alice\n"},
		{"certificate: other user", ModeCertificate, "bob", []string{"id", "-un"}, "", "bob\n"},
		{"certificate: service", ModeCertificate, "", []string{"id", "-un"}, "", "hpcgate\n"},
		{"certificate: cwd is home", ModeCertificate, "alice", []string{"pwd"}, "", "/home/alice\n"},
		{"certificate: user's file", ModeCertificate, "alice", []string{"cat", secret}, "", "alice's secret\n"},
		{"certificate: stdin", ModeCertificate, "alice", []string{"cat"}, "#!/bin/sh\necho 'it''s' \"$HOME\"\n", "#!/bin/sh\necho 'it''s' \"$HOME\"\n"},
		{"certificate: quoted args", ModeCertificate, "alice", []string{"printf", "%s|", "a b", "it's", "$HOME", "`id`", ""}, "", "a b|it's|$HOME|`id`||"},
		{"sudo: user's file in home", ModeSudo, "alice", []string{"/usr/bin/cat", secret}, "", "alice's secret\n"},
		{"sudo: stdin", ModeSudo, "alice", []string{"/usr/bin/cat"}, "line 1\nline 2\n", "line 1\nline 2\n"},
		{"sudo: service", ModeSudo, "", []string{"id", "-un"}, "", "hpcgate\n"},
		{"sudo: service as itself", ModeSudo, "hpcgate", []string{"id", "-un"}, "", "hpcgate\n"},
	}
	pools := map[Mode]*Pool{
		ModeCertificate: newPool(t, n.config(t, ModeCertificate)),
		ModeSudo:        newPool(t, n.config(t, ModeSudo)),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := batch.Command{User: tt.user, Argv: tt.argv}
			if tt.stdin != "" {
				cmd.Stdin = []byte(tt.stdin)
			}
			out, err := pools[tt.mode].Run(ctx, cmd)
			if err != nil {
				t.Fatalf("Run(%v): %v", cmd, err)
			}
			if string(out) != tt.want {
				t.Errorf("Run(%v) = %q, want %q", cmd, out, tt.want)
			}
		})
	}
}

// TestRunSudoCreatesAsUser checks the ownership of what a sudo-mode command
// creates, as the scheduler commands will (the job's run directory).
func TestRunSudoCreatesAsUser(t *testing.T) {
	n := newLoginNode(t)
	p := newPool(t, n.config(t, ModeSudo))
	dir := fmt.Sprintf(".sshexec-test-dir-%d", time.Now().UnixNano())
	t.Cleanup(func() { os.RemoveAll(filepath.Join("/home/alice", dir)) })
	if _, err := p.Run(context.Background(), batch.Command{User: "alice", Argv: []string{"/usr/bin/mkdir", "-m", "0700", dir}}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join("/home/alice", dir))
	if err != nil {
		t.Fatalf("the directory is not in alice's home: %v", err)
	}
	alice, _ := user.Lookup("alice")
	if uid := strconv.Itoa(int(st.Sys().(*syscall.Stat_t).Uid)); uid != alice.Uid {
		t.Errorf("directory owned by uid %s, want alice (%s)", uid, alice.Uid)
	}
}

func TestRunCommandError(t *testing.T) {
	n := newLoginNode(t)
	pools := map[Mode]*Pool{
		ModeCertificate: newPool(t, n.config(t, ModeCertificate)),
		ModeSudo:        newPool(t, n.config(t, ModeSudo)),
	}
	tests := []struct {
		name       string
		mode       Mode
		argv       []string
		wantOut    string
		wantCode   int
		wantStderr string
	}{
		{"exit code and both streams", ModeCertificate, []string{"sh", "-c", "echo out; echo oops >&2; exit 3"}, "out\n", 3, "oops\n"},
		{"killed by a signal", ModeCertificate, []string{"sh", "-c", "kill -KILL $$"}, "", 128 + 9, ""},
		{"missing program", ModeCertificate, []string{"no-such-program-here"}, "", 127, "not found"},
		{"sudo: the command's error", ModeSudo, []string{"/usr/bin/cat", "no-such-file"}, "", 1, "No such file or directory"},
		{"sudo: command not allowed", ModeSudo, []string{"/usr/bin/id"}, "", 1, "a password is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := pools[tt.mode].Run(context.Background(), batch.Command{User: "alice", Argv: tt.argv})
			var ce *batch.CommandError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *batch.CommandError", err)
			}
			if errors.Is(err, ErrConnection) {
				t.Errorf("a command's failure carries ErrConnection: %v", err)
			}
			if ce.ExitCode != tt.wantCode || !strings.Contains(ce.Stderr, tt.wantStderr) {
				t.Errorf("got exit %d, stderr %q; want exit %d, stderr containing %q", ce.ExitCode, ce.Stderr, tt.wantCode, tt.wantStderr)
			}
			if strings.Join(ce.Argv, " ") != strings.Join(tt.argv, " ") {
				t.Errorf("CommandError.Argv = %q, want the command as given %q", ce.Argv, tt.argv)
			}
			if string(out) != tt.wantOut {
				t.Errorf("stdout = %q, want %q", out, tt.wantOut)
			}
		})
	}
}

func TestRunOutputLimits(t *testing.T) {
	n := newLoginNode(t)
	cfg := n.config(t, ModeCertificate)
	cfg.MaxStdout, cfg.MaxStderr = 1000, 100
	p := newPool(t, cfg)
	ctx := context.Background()

	_, err := p.Run(ctx, batch.Command{User: "alice", Argv: []string{"head", "-c", "5000", "/dev/zero"}})
	if !errors.Is(err, ErrOutputLimit) {
		t.Errorf("5000 bytes on stdout with a limit of 1000: err = %v, want ErrOutputLimit", err)
	}
	out, err := p.Run(ctx, batch.Command{User: "alice", Argv: []string{"head", "-c", "1000", "/dev/zero"}})
	if err != nil || len(out) != 1000 {
		t.Errorf("exactly the limit: got %d bytes, %v", len(out), err)
	}
	_, err = p.Run(ctx, batch.Command{User: "alice", Argv: []string{"sh", "-c", "head -c 500 /dev/zero | tr '\\0' x >&2; exit 2"}})
	var ce *batch.CommandError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a CommandError", err)
	}
	if want := strings.Repeat("x", 100) + "\n[400 more bytes cut]"; ce.Stderr != want {
		t.Errorf("stderr = %q, want %q", ce.Stderr, want)
	}
}

func TestRunUsesOneConnection(t *testing.T) {
	n := newLoginNode(t)
	p := newPool(t, n.config(t, ModeCertificate))
	const runs = 20
	for i := range runs {
		out, err := p.Run(context.Background(), batch.Command{User: "alice", Argv: []string{"echo", strconv.Itoa(i)}})
		if err != nil || string(out) != fmt.Sprintf("%d\n", i) {
			t.Fatalf("run %d: %q, %v", i, out, err)
		}
	}
	st := p.Stats()
	if st.Handshakes != 1 || st.Sessions != runs || st.Commands != runs || st.OpenConns != 1 {
		t.Errorf("after %d commands: %+v; want 1 handshake, %d sessions and commands, 1 open connection", runs, st, runs)
	}
	if got := strings.Count(n.Log(), "Accepted publickey for alice"); got != 1 {
		t.Errorf("sshd accepted %d logins for alice, want 1", got)
	}
}

// TestRunQueuesAboveMaxSessions measures, on the login node, how many
// commands overlapped.
func TestRunQueuesAboveMaxSessions(t *testing.T) {
	n := newLoginNode(t)
	cfg := n.config(t, ModeCertificate)
	cfg.MaxSessions = 2
	p := newPool(t, cfg)
	const runs = 8
	outs := make([]string, runs)
	errs := make([]error, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Go(func() {
			out, err := p.Run(context.Background(), batch.Command{User: "alice",
				Argv: []string{"sh", "-c", "date +%s.%N; sleep 0.3; date +%s.%N"}})
			outs[i], errs[i] = string(out), err
		})
	}
	wg.Wait()
	type event struct {
		at    float64
		delta int
	}
	var events []event
	for i := range runs {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		var start, end float64
		if _, err := fmt.Sscan(outs[i], &start, &end); err != nil {
			t.Fatalf("run %d printed %q: %v", i, outs[i], err)
		}
		events = append(events, event{start, +1}, event{end, -1})
	}
	sort.Slice(events, func(i, j int) bool {
		if events[i].at != events[j].at {
			return events[i].at < events[j].at
		}
		return events[i].delta < events[j].delta
	})
	running, peak := 0, 0
	for _, e := range events {
		running += e.delta
		peak = max(peak, running)
	}
	if peak != cfg.MaxSessions {
		t.Errorf("at most %d commands ran at once, want exactly MaxSessions = %d", peak, cfg.MaxSessions)
	}
	if st := p.Stats(); st.Handshakes != 1 || st.Sessions != runs {
		t.Errorf("stats %+v: want 1 handshake and %d sessions", st, runs)
	}
}

func TestRunQueueRespectsContext(t *testing.T) {
	n := newLoginNode(t)
	cfg := n.config(t, ModeCertificate)
	cfg.MaxSessions = 1
	p := newPool(t, cfg)
	opened := make(chan struct{}, 1)
	p.hooks.opened = func(*client, time.Time) { opened <- struct{}{} }

	first := make(chan error, 1)
	go func() {
		_, err := p.Run(context.Background(), batch.Command{User: "alice", Argv: []string{"sleep", "2"}})
		first <- err
	}()
	<-opened
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := p.Run(ctx, batch.Command{User: "alice", Argv: []string{"true"}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("queued behind a busy session: err = %v, want the context's deadline", err)
	}
	if err := <-first; err != nil {
		t.Errorf("the command holding the session: %v", err)
	}
	if s := p.Stats().Sessions; s != 1 {
		t.Errorf("%d sessions opened, want 1 (the queued command must not run)", s)
	}
}

// TestRunCancel cancels a command that would run forever and checks its
// process is gone from the login node (this machine).
func TestRunCancel(t *testing.T) {
	n := newLoginNode(t)
	tests := []struct {
		name string
		mode Mode
		argv func(nonce string) []string
	}{
		{"certificate", ModeCertificate, func(nonce string) []string { return []string{"sleep", "86400." + nonce} }},
		// sudo passes the signal on to the user's process.
		{"sudo", ModeSudo, func(nonce string) []string { return []string{"/usr/bin/tail", "-s", "7." + nonce, "-f", "/dev/null"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(t, n.config(t, tt.mode))
			nonce := strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
			argv := tt.argv(nonce)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := p.Run(ctx, batch.Command{User: "alice", Argv: argv})
				done <- err
			}()
			waitFor(t, "the command to start", func() bool { return processesWith(nonce) != "" })
			time.Sleep(200 * time.Millisecond)
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) || errors.Is(err, ErrConnection) {
					t.Errorf("cancelled Run returned %v, want context.Canceled without ErrConnection", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Run did not return after its context was cancelled")
			}
			waitFor(t, "the remote process to end", func() bool { return processesWith(nonce) == "" })
			// The connection survives a cancelled command.
			next := batch.Command{User: "alice", Argv: []string{"/usr/bin/cat"}, Stdin: []byte("ok\n")}
			if out, err := p.Run(context.Background(), next); err != nil || string(out) != "ok\n" {
				t.Errorf("next command: %q, %v", out, err)
			}
			if h := p.Stats().Handshakes; h != 1 {
				t.Errorf("%d handshakes, want 1", h)
			}
		})
	}
}

// processesWith returns the ps lines whose arguments contain s.
func processesWith(s string) string {
	out, _ := exec.Command("ps", "-eo", "pid,user,args").Output()
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, s) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond for up to 15s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunRefusesBadCommands needs no login node: the checks come first.
func TestRunRefusesBadCommands(t *testing.T) {
	for _, mode := range []Mode{ModeCertificate, ModeSudo} {
		p := newPool(t, offlineConfig(t, mode))
		tests := []struct {
			name string
			cmd  batch.Command
			want string
		}{
			{"no argv", batch.Command{User: "alice"}, "no command"},
			{"empty program", batch.Command{User: "alice", Argv: []string{""}}, "no command"},
			{"NUL byte", batch.Command{User: "alice", Argv: []string{"echo", "a\x00b"}}, "NUL"},
			{"assignment as program", batch.Command{User: "alice", Argv: []string{"LD_PRELOAD=/tmp/x.so", "squeue"}}, "contains '='"},
			{"option as user", batch.Command{User: "-u", Argv: []string{"id"}}, "not a valid user"},
			{"shell in user", batch.Command{User: "alice;id", Argv: []string{"id"}}, "not a valid user"},
		}
		for _, tt := range tests {
			t.Run(string(mode)+": "+tt.name, func(t *testing.T) {
				_, err := p.Run(context.Background(), tt.cmd)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Run(%q as %q) = %v, want an error containing %q", tt.cmd.Argv, tt.cmd.User, err, tt.want)
				}
			})
		}
		if st := p.Stats(); st.Handshakes+st.Failures+st.Sessions != 0 {
			t.Errorf("%s: refused commands reached the network: %+v", mode, st)
		}
	}
}

// offlineConfig is a valid config for a login node that is never dialled.
func offlineConfig(t *testing.T, mode Mode) Config {
	key := func() ssh.Signer {
		s, err := writeKey(filepath.Join(t.TempDir(), "key"), "k")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cfg := Config{Addr: "127.0.0.1:1", HostKeyCallback: ssh.FixedHostKey(key().PublicKey()), Mode: mode, ServiceUser: serviceUser, Logger: testLogger(t)}
	if mode == ModeCertificate {
		cfg.CASigner = key()
	} else {
		cfg.ServiceSigner = key()
	}
	return cfg
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		mode      Mode
		user      string
		argv      []string
		wantLine  string
		wantLogin string
	}{
		{ModeCertificate, "alice", []string{"sbatch", "--parsable"}, "sbatch --parsable", "alice"},
		{ModeCertificate, "", []string{"squeue", "-h", "-o", "%i %T"}, "squeue -h -o '%i %T'", "hpcgate"},
		{ModeSudo, "alice", []string{"sbatch", "--job-name=it's"}, `sudo -n -u alice -- sbatch '--job-name=it'\''s'`, "hpcgate"},
		{ModeSudo, "", []string{"squeue"}, "squeue", "hpcgate"},
		{ModeSudo, "hpcgate", []string{"squeue"}, "squeue", "hpcgate"},
	}
	for _, tt := range tests {
		p := newPool(t, offlineConfig(t, tt.mode))
		line, login, err := p.commandLine(batch.Command{User: tt.user, Argv: tt.argv})
		if err != nil || line != tt.wantLine || login != tt.wantLogin {
			t.Errorf("%s %q %q: got %q as %q (%v), want %q as %q", tt.mode, tt.user, tt.argv, line, login, err, tt.wantLine, tt.wantLogin)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := offlineConfig(t, ModeCertificate)
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"sudo valid", func(c *Config) { c.Mode, c.ServiceSigner = ModeSudo, good.CASigner }, ""},
		{"no port", func(c *Config) { c.Addr = "login.example.org" }, "not host:port"},
		{"no host key check", func(c *Config) { c.HostKeyCallback = nil }, "host keys are always verified"},
		{"unknown mode", func(c *Config) { c.Mode = "password" }, `mode "password"`},
		{"no mode", func(c *Config) { c.Mode = "" }, `mode ""`},
		{"certificate without CA", func(c *Config) { c.CASigner = nil }, "user CA"},
		{"sudo without key", func(c *Config) { c.Mode = ModeSudo }, "service account's private key"},
		{"no service user", func(c *Config) { c.ServiceUser = "" }, "service user"},
		{"bad service user", func(c *Config) { c.ServiceUser = "root;id" }, "service user"},
		{"lifetime too short", func(c *Config) { c.CertLifetime = time.Second }, "lifetime"},
		{"lifetime too long", func(c *Config) { c.CertLifetime = 48 * time.Hour }, "lifetime"},
		{"negative sessions", func(c *Config) { c.MaxSessions = -1 }, "max sessions"},
		{"negative keepalive", func(c *Config) { c.KeepAlive = -time.Second }, "keepalive"},
		{"backoff upside down", func(c *Config) { c.ReconnectMin, c.ReconnectMax = time.Minute, time.Second }, "reconnect max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.change(&cfg)
			p, err := New(cfg)
			if p != nil {
				p.Close()
			}
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("New: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
