package batchtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"hpcgate/batch"
)

// Options configure Conformance for one scheduler on one cluster.
type Options struct {
	// Executor runs the scheduler's commands (the sshexec pool). The suite
	// wraps it to count commands and also uses it to read the job's address
	// file as the user. Required.
	Executor batch.Executor
	// Dial opens connections through the login node (the pool's
	// DialContext): the suite reaches the job's HTTP server with it. Required.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// User submits the jobs. Default: "alice".
	User string
	// Partition is a partition or queue the job may run in. Default: the
	// scheduler's default.
	Partition string
	// BadPartition does not exist; submitting to it must fail with the
	// scheduler's own words, of which BadPartitionWords is a part.
	// Default: "nosuch".
	BadPartition, BadPartitionWords string
	// UnknownID is a well-formed job id the scheduler does not know.
	// Required.
	UnknownID string
	// HoldReason is part of the Reason a held job reports. Required when
	// the scheduler is a batch.Releaser (only then is a job held).
	HoldReason string
	// Timeout bounds each wait for the job to change (start, stop).
	// Default: 90s.
	Timeout time.Duration
	// SubmitHostile, if set, submits a held job as another user, named (or
	// otherwise labelled) with the worst free text the scheduler takes:
	// control characters, quotes, a fake record claiming the suite's job
	// ended. forge is the id of the suite's held job, to put in the fake
	// record. It returns the job id; the suite cancels it with cancel.
	// Default: none, the hostile-record check is skipped.
	SubmitHostile func(ctx context.Context, forge string) (id string, cancel func(), err error)
}

// Counting wraps an Executor and counts the commands run through it.
type Counting struct {
	batch.Executor
	n atomic.Int64
}

// Run counts and runs cmd.
func (c *Counting) Run(ctx context.Context, cmd batch.Command) ([]byte, error) {
	c.n.Add(1)
	return c.Executor.Run(ctx, cmd)
}

// Count is the number of commands run so far.
func (c *Counting) Count() int64 { return c.n.Load() }

// Conformance runs the behaviour every batch.Scheduler must have against a
// real scheduler: newScheduler builds the scheduler under test over the
// executor it is given (a counting wrapper of opts.Executor). A job whose
// app is a tiny HTTP server is submitted, inspected, reached through the
// login node, cancelled and confirmed gone. The optional capabilities are
// checked when the scheduler has them, and only then: a batch.Releaser's
// job is submitted held and released, a History must confirm the job's
// end, a Lister, QueueReader and StartEstimator must find the job.
func Conformance(t *testing.T, newScheduler func(t *testing.T, exec batch.Executor) batch.Scheduler, opts Options) {
	t.Helper()
	if opts.Executor == nil || opts.Dial == nil || opts.UnknownID == "" {
		t.Fatal("conformance: Executor, Dial and UnknownID are required")
	}
	if opts.User == "" {
		opts.User = "alice"
	}
	if opts.BadPartition == "" {
		opts.BadPartition = "nosuch"
	}
	if opts.Timeout == 0 {
		opts.Timeout = 90 * time.Second
	}
	exec := &Counting{Executor: opts.Executor}
	s := newScheduler(t, exec)
	if s.Kind() == "" {
		t.Error("Kind() is empty")
	}
	if _, ok := s.(batch.Releaser); ok && opts.HoldReason == "" {
		t.Fatal("conformance: HoldReason is required for a scheduler that releases held jobs")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*opts.Timeout)
	c := &suite{t: t, s: s, exec: exec, opts: opts, nonce: nonce(t), ctx: ctx}
	t.Cleanup(cancel)
	t.Cleanup(c.removeRunDir)

	t.Run("SubmitErrorHasSchedulerWords", c.submitError)
	t.Run("UnknownIDIsAbsent", c.unknownID)
	t.Run("Lifecycle", c.lifecycle)
}

type suite struct {
	t     *testing.T
	s     batch.Scheduler
	exec  *Counting
	opts  Options
	nonce string
	// ctx bounds the whole suite; each wait has its own Timeout.
	ctx context.Context
}

func nonce(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// runDir is unique per run: job ids restart when slurmctld starts afresh,
// so nothing may be keyed on them across runs.
func (c *suite) runDir() string { return ".hpcgate-test/" + c.nonce }

func (c *suite) spec(name string) batch.JobSpec {
	return batch.JobSpec{
		Name:      "hpcgate-conf-" + c.nonce + "-" + name,
		User:      c.opts.User,
		Partition: c.opts.Partition,
		Cores:     1,
		Walltime:  10 * time.Minute,
		RunDir:    c.runDir(),
		App: batch.App{
			Argv: []string{"python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1"},
			// A value with a placeholder and characters a shell would
			// interpret, as a token might have.
			Env: map[string]string{"HPCGATE_TEST_URL": "http://{host}:{port}/x?a=1&b='2'"},
		},
	}
}

func (c *suite) removeRunDir() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.opts.Executor.Run(ctx, batch.Command{User: c.opts.User, Argv: []string{"rm", "-rf", "--", c.runDir()}}); err != nil {
		c.t.Logf("remove %s: %v", c.runDir(), err)
	}
	// The parent too, unless another run (the other scheduler's package,
	// run in parallel) still uses it.
	c.opts.Executor.Run(ctx, batch.Command{User: c.opts.User, Argv: []string{"rm", "-d", "--", ".hpcgate-test"}})
}

func (c *suite) submitError(t *testing.T) {
	spec := c.spec("bad")
	spec.Partition = c.opts.BadPartition
	id, err := c.s.Submit(c.ctx, spec)
	if err == nil {
		c.cancel(t, id)
		t.Fatalf("Submit to partition %q succeeded with job %s", spec.Partition, id)
	}
	var ce *batch.CommandError
	if !errors.As(err, &ce) {
		t.Fatalf("Submit error %q carries no *batch.CommandError", err)
	}
	words := strings.TrimSpace(ce.Stderr)
	if words == "" || !strings.Contains(err.Error(), words) {
		t.Errorf("Submit error %q does not carry the scheduler's stderr %q", err, ce.Stderr)
	}
	if c.opts.BadPartitionWords != "" && !strings.Contains(err.Error(), c.opts.BadPartitionWords) {
		t.Errorf("Submit error %q does not say %q", err, c.opts.BadPartitionWords)
	}
}

func (c *suite) unknownID(t *testing.T) {
	ctx := c.ctx
	before := c.exec.Count()
	st, err := c.s.Status(ctx, []string{c.opts.UnknownID})
	if err != nil {
		t.Fatalf("Status of unknown id %s: %v", c.opts.UnknownID, err)
	}
	if js, ok := st[c.opts.UnknownID]; ok {
		t.Errorf("Status of unknown id %s reports %+v", c.opts.UnknownID, js)
	}
	if n := c.exec.Count() - before; n != 1 {
		t.Errorf("Status of one id ran %d commands, want 1", n)
	}
	if err := c.s.Cancel(ctx, c.opts.User, c.opts.UnknownID); err != nil {
		t.Errorf("Cancel of unknown id %s: %v", c.opts.UnknownID, err)
	}
}

// status is one Status call for ids, which must run exactly one command.
func (c *suite) status(t *testing.T, ids ...string) map[string]batch.JobStatus {
	t.Helper()
	before := c.exec.Count()
	st, err := c.s.Status(c.ctx, ids)
	if err != nil {
		t.Fatalf("Status(%v): %v", ids, err)
	}
	if n := c.exec.Count() - before; n != 1 {
		t.Errorf("Status of %d ids ran %d commands, want 1", len(ids), n)
	}
	for id, js := range st {
		// StateUnknown means "gone, end unknown"; a job Status lists is
		// never that (an unmapped word is StateUnrecognised).
		if js.State == batch.StateUnknown {
			t.Errorf("Status lists job %s as %s (raw %q): a listed job is never unknown", id, js.State, js.RawState)
		}
	}
	return st
}

// hostile checks that a hostile job of another user, in the same Status
// call, leaves the suite's held job id as it is.
func (c *suite) hostile(t *testing.T, id string, spec batch.JobSpec, want batch.JobStatus) {
	if c.opts.SubmitHostile == nil {
		return
	}
	hid, cancel, err := c.opts.SubmitHostile(c.ctx, id)
	if err != nil {
		t.Fatalf("submit the hostile job: %v", err)
	}
	defer cancel()
	st := c.status(t, id, hid)
	t.Logf("hostile job %s listed with a %d-byte name", hid, len(st[hid].Name))
	js, ok := st[id]
	if !ok || js.State != want.State || js.Reason != want.Reason || js.Name != spec.Name || js.User != spec.User {
		t.Errorf("with hostile job %s in the query, job %s is %+v (listed: %v), want %+v", hid, id, js, ok, want)
	}
	// Listed either way (so never taken for gone): read as another user's
	// pending job, or unreadable (no owner, a state nothing acts on).
	if hj, ok := st[hid]; !ok || hj.User == spec.User ||
		(hj.User != "" && hj.State != batch.StatePending) || (hj.User == "" && hj.State != batch.StateUnrecognised) {
		t.Errorf("hostile job %s: %+v (listed: %v), want another user's pending job, or unreadable", hid, hj, ok)
	}
	if q, ok := c.s.(batch.QueueReader); ok {
		jobs, err := q.Queue(c.ctx)
		if err != nil || !hasJob(jobs, hid) || !hasJob(jobs, id) {
			t.Errorf("Queue with the hostile job = %d jobs, %v; want both %s and %s", len(jobs), err, id, hid)
		}
	}
}

// waitFor polls id's status until done accepts it.
func (c *suite) waitFor(t *testing.T, id, what string, done func(js batch.JobStatus, ok bool) bool) (batch.JobStatus, bool) {
	t.Helper()
	deadline := time.Now().Add(c.opts.Timeout)
	for {
		js, ok := c.status(t, id)[id]
		if done(js, ok) {
			return js, ok
		}
		if time.Now().After(deadline) {
			c.logJob(t)
			t.Fatalf("job %s did not become %s within %s: last status %+v (listed: %v)", id, what, c.opts.Timeout, js, ok)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func (c *suite) cancel(t *testing.T, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.s.Cancel(ctx, c.opts.User, id); err != nil {
		t.Errorf("cancel job %s: %v", id, err)
	}
}

// cat reads a file as the user; a missing file is an error.
func (c *suite) cat(ctx context.Context, path string) ([]byte, error) {
	return c.opts.Executor.Run(ctx, batch.Command{User: c.opts.User, Argv: []string{"cat", "--", path}})
}

func (c *suite) logJob(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log, err := c.cat(ctx, c.spec("life").LogFile())
	t.Logf("job log (%v):\n%s", err, log)
}

func (c *suite) lifecycle(t *testing.T) {
	ctx := c.ctx
	spec := c.spec("life")
	// A scheduler that can release a job gets it held, so the optional
	// capabilities see it pending.
	rel, canRelease := c.s.(batch.Releaser)
	spec.Hold = canRelease
	id, err := c.s.Submit(ctx, spec)
	if err != nil {
		t.Fatalf("Submit (held: %v): %v", spec.Hold, err)
	}
	t.Cleanup(func() { c.cancel(t, id) })
	t.Logf("submitted job %s (%s, held: %v)", id, spec.Name, spec.Hold)

	// Listed at once, in one command; held: pending with the hold as the
	// reason.
	js, ok := c.status(t, id)[id]
	switch {
	case !ok || !js.State.Active():
		t.Fatalf("job %s just submitted: status %+v (listed: %v), want pending or running", id, js, ok)
	case canRelease && (js.State != batch.StatePending || !strings.Contains(js.Reason, c.opts.HoldReason)):
		t.Fatalf("held job %s: status %+v, want pending with reason %q", id, js, c.opts.HoldReason)
	}
	if js.Name != spec.Name || js.User != spec.User {
		t.Errorf("job %s: name %q user %q, want %q %q", id, js.Name, js.User, spec.Name, spec.User)
	}
	// Several ids, one unknown, still one command.
	st := c.status(t, id, c.opts.UnknownID, id)
	if _, ok := st[id]; !ok || len(st) != 1 {
		t.Errorf("Status(%s, %s): %v, want only %s", id, c.opts.UnknownID, st, id)
	}
	c.optional(t, id, spec)
	c.hostile(t, id, spec, js)

	if canRelease {
		if err := rel.Release(ctx, spec.User, id); err != nil {
			t.Fatalf("Release %s: %v", id, err)
		}
	}
	js, _ = c.waitFor(t, id, "running", func(js batch.JobStatus, ok bool) bool {
		if ok && js.State.Terminal() {
			c.logJob(t)
			t.Fatalf("job %s ended before it ran: %+v", id, js)
		}
		return ok && js.State == batch.StateRunning
	})
	if js.Node == "" {
		t.Errorf("running job %s reports no node: %+v", id, js)
	}
	if js.Started.IsZero() {
		t.Errorf("running job %s reports no start time: %+v", id, js)
	}

	host, port := c.waitAddr(t, spec)
	addr := net.JoinHostPort(host, fmt.Sprint(port))
	c.get(t, addr)

	if err := c.s.Cancel(ctx, spec.User, id); err != nil {
		t.Fatalf("Cancel %s: %v", id, err)
	}
	js, ok = c.waitFor(t, id, "ended", func(js batch.JobStatus, ok bool) bool {
		return !ok || js.State.Terminal()
	})
	switch {
	case ok && js.State != batch.StateCancelled:
		t.Errorf("cancelled job %s: state %s (%s), want cancelled", id, js.State, js.RawState)
	case ok && js.ExitCode != 143:
		// The script passes the SIGTERM on to the app (python3, which dies
		// of it) and exits with the app's status, 128+15.
		c.logJob(t)
		t.Errorf("cancelled job %s: exit code %d, want the app's 143", id, js.ExitCode)
	case !ok:
		h, isHist := c.s.(batch.History)
		if !isHist {
			break
		}
		hist, err := h.History(ctx, []string{id})
		if err != nil {
			t.Fatalf("History(%s): %v", id, err)
		}
		if _, ok := hist[id]; !ok {
			t.Errorf("job %s is gone from Status but History does not confirm it ended", id)
		}
	}
	if ok {
		if h, isHist := c.s.(batch.History); isHist {
			hist, err := h.History(ctx, []string{id})
			if err != nil {
				t.Fatalf("History(%s): %v", id, err)
			}
			if hj, ok := hist[id]; !ok || hj.State != js.State {
				t.Errorf("History(%s) = %+v (listed: %v), want state %s", id, hj, ok, js.State)
			}
			for hid, hj := range hist {
				if !hj.State.Terminal() && hj.State != batch.StateUnknown {
					t.Errorf("History(%s) reports %s as %s: history holds only ended jobs", id, hid, hj.State)
				}
			}
		}
	}
	c.waitClosed(t, spec, addr)
	if err := c.s.Cancel(ctx, spec.User, id); err != nil {
		t.Errorf("Cancel of the ended job %s: %v", id, err)
	}
}

// optional exercises the optional capabilities on the job, held if the
// scheduler can release it.
func (c *suite) optional(t *testing.T, id string, spec batch.JobSpec) {
	ctx := c.ctx
	if l, ok := c.s.(batch.Lister); ok {
		prefix := strings.TrimSuffix(spec.Name, "life")
		jobs, err := l.ListByName(ctx, spec.User, prefix)
		if err != nil {
			t.Errorf("ListByName(%s, %s): %v", spec.User, prefix, err)
		}
		if !hasJob(jobs, id) {
			t.Errorf("ListByName(%s, %s) = %+v, want job %s", spec.User, prefix, jobs, id)
		}
		for _, j := range jobs {
			if !strings.HasPrefix(j.Name, prefix) {
				t.Errorf("ListByName(%s, %s) returned job %s named %s", spec.User, prefix, j.ID, j.Name)
			}
		}
		if jobs, err := l.ListByName(ctx, spec.User, prefix+"nomatch"); err != nil || len(jobs) != 0 {
			t.Errorf("ListByName with a prefix nothing has = %+v, %v; want none", jobs, err)
		}
	}
	if q, ok := c.s.(batch.QueueReader); ok {
		before := c.exec.Count()
		jobs, err := q.Queue(ctx)
		if err != nil {
			t.Errorf("Queue: %v", err)
		}
		if !hasJob(jobs, id) {
			t.Errorf("Queue has no job %s among %d", id, len(jobs))
		}
		if n := c.exec.Count() - before; n != 1 {
			t.Errorf("Queue ran %d commands, want 1", n)
		}
	}
	if e, ok := c.s.(batch.StartEstimator); ok {
		// A held or running job has no estimate; the call must still
		// succeed.
		if _, err := e.EstimateStart(ctx, []string{id, c.opts.UnknownID}); err != nil {
			t.Errorf("EstimateStart: %v", err)
		}
	}
}

func hasJob(jobs []batch.JobStatus, id string) bool {
	for _, j := range jobs {
		if j.ID == id {
			return true
		}
	}
	return false
}

// waitAddr reads the job's address file as the user until it appears.
func (c *suite) waitAddr(t *testing.T, spec batch.JobSpec) (string, int) {
	t.Helper()
	deadline := time.Now().Add(c.opts.Timeout)
	for {
		b, err := c.cat(c.ctx, spec.AddrFile())
		if err == nil {
			host, port, err := batch.ParseAddr(b)
			if err != nil {
				t.Fatalf("address file %s: %v", spec.AddrFile(), err)
			}
			return host, port
		}
		if time.Now().After(deadline) {
			c.logJob(t)
			t.Fatalf("address file %s did not appear within %s: %v", spec.AddrFile(), c.opts.Timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *suite) client() *http.Client {
	return &http.Client{
		Transport: &http.Transport{DialContext: c.opts.Dial, DisableKeepAlives: true},
		Timeout:   10 * time.Second,
	}
}

// get fetches / from the app through the login node until it answers 200
// (the app may not listen yet when the address file appears).
func (c *suite) get(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(c.opts.Timeout)
	for {
		resp, err := c.client().Get("http://" + addr + "/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			c.logJob(t)
			t.Fatalf("GET http://%s/ through the login node: %v", addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitClosed waits until the app's port refuses connections and the job has
// removed its address file.
func (c *suite) waitClosed(t *testing.T, spec batch.JobSpec, addr string) {
	t.Helper()
	deadline := time.Now().Add(c.opts.Timeout)
	for {
		_, getErr := c.client().Get("http://" + addr + "/")
		_, catErr := c.cat(c.ctx, spec.AddrFile())
		if getErr != nil && catErr != nil {
			return
		}
		if time.Now().After(deadline) {
			c.logJob(t)
			if getErr == nil {
				t.Fatalf("the app still answers on %s after the job was cancelled", addr)
			}
			t.Fatalf("the address file %s is still there after the job was cancelled", spec.AddrFile())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
