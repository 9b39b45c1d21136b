package gateway

import (
	"context"
	"fmt"
	"strings"
	"time"

	"hpcgate/batch"
)

// effects are what one scheduler report on one server's job asks of the
// hub. observe computes them without touching anything; apply carries them
// out, in one place.
type effects struct {
	// Ignore, when set, says why the record is not about this server's
	// job at all; nothing else is done.
	Ignore string
	// Sched is the scheduler's view to record (state word, node,
	// estimate, exit code); nil when nothing changed.
	Sched *SchedStatus
	// Move is a change of state or of the reason shown.
	Move *move
	// End finishes the server (stopped or failed); Cancel first cancels
	// its job (a timeout), and LogTail adds the end of the job's log to
	// the reason. Outcome is the spawn outcome counted, "" for none.
	End     *verdict
	Cancel  bool
	LogTail bool
	Outcome string
	// RetryCancel sends a stop's cancel again: the first did not take.
	RetryCancel bool
	// WarnWalltime checks whether the walltime warning is due;
	// CheckReady starts (once) the check that the app answers.
	WarnWalltime, CheckReady bool
}

// move is a transition and the event that tells of it.
type move struct {
	To     ServerState
	Reason string
	From   []ServerState
	// Kind and Message are the event recorded if the server moved.
	Kind, Message string
	Data          map[string]any
	// Queued is the queue wait to count when the job started running.
	Queued time.Duration
}

// cancelRetry is how long a stop waits before sending its cancel again.
const cancelRetry = 15 * time.Second

// observe decides what the report st means for srv at now.
func observe(srv *Server, st batch.JobStatus, now time.Time, p policy) effects {
	if ok, why := belongs(tracked{JobID: srv.JobID, User: srv.User, JobName: srv.JobName}, st); !ok {
		return effects{Ignore: why}
	}
	var e effects
	est := st.EstimatedStart
	if est.IsZero() && st.State == batch.StatePending {
		est = srv.EstimatedStart // from the last estimate query
	}
	changed := srv.SchedState != st.RawState || (st.Node != "" && srv.Node != st.Node) || !est.Equal(srv.EstimatedStart)
	if changed || (st.State.Terminal() && st.ExitCode != 0) {
		e.Sched = &SchedStatus{State: st.RawState, Node: st.Node, EstimatedStart: est}
		if st.State.Terminal() {
			code := st.ExitCode
			e.Sched.ExitCode = &code
		}
	}
	v := decide(job{State: srv.State, Submitted: srv.Submitted, Started: srv.Started, Walltime: srv.Resources.Walltime}, st, now, p)
	switch {
	case v.Cancel:
		e.End, e.Cancel, e.Outcome = &v, true, v.EndedBy
		e.LogTail = v.EndedBy == "start-timeout"
		return e
	case v.To == StateStopped || v.To == StateFailed:
		e.End = &v
		if v.Failed && srv.State != StateReady {
			e.LogTail, e.Outcome = true, "job_failed"
		}
		return e
	case v.To == StateStarting:
		e.Move = &move{To: StateStarting, From: []ServerState{StateSubmitting, StateQueued}, Kind: "running",
			Message: "Job " + srv.JobID + " is running on " + orDefault(st.Node, "a node") + "; starting the app.",
			Data:    map[string]any{"queued_seconds": now.Sub(srv.Submitted).Seconds(), "node": st.Node, "partition": srv.Resources.Partition},
			Queued:  now.Sub(srv.Submitted)}
	case v.To == StateQueued && srv.State == StateSubmitting:
		e.Move = &move{To: StateQueued, Reason: st.Reason, From: []ServerState{StateSubmitting}}
	case st.State == batch.StateUnrecognised:
		// Listed in a state the adapter does not map: the server is left
		// as it is, and the scheduler's word is shown where its reason is.
		if msg := unrecognisedReason(st); srv.Reason != msg {
			e.Move = &move{To: srv.State, Reason: msg, From: []ServerState{srv.State}, Kind: "unrecognised-state", Message: msg}
		}
	case st.State == batch.StatePending && srv.State == StateQueued && srv.Reason != st.Reason:
		e.Move = &move{To: StateQueued, Reason: st.Reason, From: []ServerState{StateQueued}}
	case strings.HasPrefix(srv.Reason, unrecognisedPrefix) && srv.State != StateQueued:
		// The word was recognised again: its reason goes.
		e.Move = &move{To: srv.State, From: []ServerState{srv.State}}
	}
	// A stop whose cancel did not take (the scheduler refused or was
	// down): send it again, at most every cancelRetry.
	e.RetryCancel = srv.State == StateStopping && st.State.Active() && st.State != batch.StateCompleting &&
		now.Sub(srv.Updated) > cancelRetry
	e.WarnWalltime = st.State == batch.StateRunning && srv.State == StateReady
	e.CheckReady = st.State == batch.StateRunning && (srv.State == StateStarting || v.To == StateStarting)
	return e
}

// report applies one scheduler report to one server.
func (h *Hub) report(ctx context.Context, c *Cluster, srv *Server, st batch.JobStatus) {
	e := observe(srv, st, h.now(), policy{
		QueueTimeout: time.Duration(c.Config.QueueTimeout),
		StartTimeout: time.Duration(c.Config.StartTimeout),
	})
	h.apply(ctx, c, srv, e)
}

// apply carries out e for srv: the one place a poll changes anything.
func (h *Hub) apply(ctx context.Context, c *Cluster, srv *Server, e effects) {
	if e.Ignore != "" {
		h.log.Warn("poll: a scheduler record for this server's job does not match it; nothing changed",
			"cluster", c.Config.Name, "user", srv.User, "job", srv.JobID, "mismatch", e.Ignore)
		return
	}
	changed := false
	if e.Sched != nil {
		if err := h.servers.SetSchedStatus(ctx, srv.ID, *e.Sched); err != nil {
			h.log.Error("record job status failed", "user", srv.User, "job", srv.JobID, "err", err)
		}
		changed = true
	}
	if e.End != nil {
		if e.Cancel {
			h.cancelJob(ctx, c, srv)
		}
		reason := e.End.Reason
		if e.LogTail {
			reason += h.logTailSuffix(ctx, c, srv)
		}
		h.finish(ctx, srv, e.End.To, reason, e.End.EndedBy)
		if e.Outcome != "" {
			h.metrics.spawn(c.Config.Name, e.Outcome)
		}
		return
	}
	if m := e.Move; m != nil {
		if ok, err := h.transition(ctx, srv, m.To, m.Reason, m.From...); err == nil && ok {
			changed = true
			if m.Kind != "" {
				h.eventData(ctx, srv, m.Kind, m.Message, m.Data)
			}
			if m.To == StateStarting {
				h.metrics.queued(c.Config.Name, m.Queued)
			}
		}
	}
	if e.RetryCancel && h.cancelJob(ctx, c, srv) == nil {
		h.transition(ctx, srv, StateStopping, "", StateStopping) // stamps the retry
	}
	if e.WarnWalltime {
		h.warnWalltime(ctx, srv)
	}
	if e.CheckReady {
		h.checkReady(c, srv.ID)
	}
	if changed {
		h.refresh(ctx, srv.ID)
	}
}

// WalltimeWarning is how long before the end of its walltime a user is
// warned that the scheduler will end the server.
const WalltimeWarning = 10 * time.Minute

// warnWalltime tells the user, once per spawn, that the walltime is about
// to end: an event, and a progress message the home page shows as a banner.
func (h *Hub) warnWalltime(ctx context.Context, srv *Server) {
	info := h.info(srv)
	left := info.WalltimeLeft(h.now())
	if srv.Resources.Walltime == 0 || left > WalltimeWarning {
		return
	}
	h.mu.Lock()
	if h.warned[srv.ID] == srv.JobID {
		h.mu.Unlock()
		return
	}
	h.warned[srv.ID] = srv.JobID
	h.mu.Unlock()
	msg := "The scheduler will end this server in " + FormatDuration(left.Round(time.Minute)) + ", at the end of its walltime. Save your work."
	h.event(ctx, srv, "walltime-warning", msg)
	p := h.progressOf(srv)
	p.Warning = msg
	h.broker.publish(serverKey(srv.User, srv.Name), p)
}

// job is what the poller knows of one tracked server when it decides.
type job struct {
	State     ServerState // the server's state in the store
	Submitted time.Time   // when the job was submitted
	Started   time.Time   // when the hub saw it running (zero before)
	Walltime  time.Duration
}

// policy is a cluster's timeouts.
type policy struct {
	QueueTimeout time.Duration // 0: a job may wait in the queue forever
	StartTimeout time.Duration // from running to the app answering
}

// verdict is what one observation of a job means for its server.
type verdict struct {
	To      ServerState // new server state; "" keeps the state
	Reason  string
	Cancel  bool // the hub must cancel the job (a timeout)
	Failed  bool
	EndedBy string // "walltime", "user", "scheduler", "queue-timeout", "start-timeout", "exit"
}

// decide maps a scheduler's report on a job to the server's next state.
// present is false when the scheduler no longer lists the job and a second
// signal (history, or a repeated miss) confirmed that it ended; st is then
// the history's report if it had one.
func decide(j job, st batch.JobStatus, now time.Time, p policy) verdict {
	switch st.State {
	case batch.StatePending:
		if j.State == StateStopping {
			return verdict{}
		}
		if p.QueueTimeout > 0 && !j.Submitted.IsZero() && now.Sub(j.Submitted) > p.QueueTimeout {
			return verdict{To: StateFailed, Failed: true, Cancel: true, EndedBy: "queue-timeout",
				Reason: fmt.Sprintf("The job waited %s in the queue, longer than this site's queue timeout of %s, and was cancelled. The scheduler's last reason: %s.",
					FormatDuration(now.Sub(j.Submitted)), FormatDuration(p.QueueTimeout), orNone(st.Reason))}
		}
		if j.State == StateSubmitting || j.State == StateQueued {
			return verdict{To: StateQueued, Reason: st.Reason}
		}
	case batch.StateRunning:
		switch j.State {
		case StateSubmitting, StateQueued:
			return verdict{To: StateStarting}
		case StateStarting:
			if p.StartTimeout > 0 && !j.Started.IsZero() && now.Sub(j.Started) > p.StartTimeout {
				return verdict{To: StateFailed, Failed: true, Cancel: true, EndedBy: "start-timeout",
					Reason: fmt.Sprintf("The job started on %s but the app did not answer within %s, so the job was cancelled.",
						orNone(st.Node), FormatDuration(p.StartTimeout))}
			}
		}
	case batch.StateCompleting:
		// Ending; the final state follows on a later poll.
	case batch.StateUnrecognised:
		// Listed in a state word the adapter does not know: the job may be
		// running and serving. Nothing changes; the raw word is shown.
	case batch.StateCompleted, batch.StateFailed, batch.StateCancelled, batch.StateTimeout, batch.StateUnknown:
		return ended(j, st)
	}
	return verdict{}
}

// unrecognisedPrefix starts the reason shown while the scheduler lists a
// job in a state the adapter does not map.
const unrecognisedPrefix = "The scheduler reports job "

// unrecognisedReason is that reason, with the scheduler's own word.
func unrecognisedReason(st batch.JobStatus) string {
	return unrecognisedPrefix + st.ID + " as " + orNone(st.RawState) +
		", a state hpcgate does not act on: the server is left as it is until the job's state changes."
}

// tracked is what a scheduler record must match to be about a server: the
// job id the hub recorded, the owner, and the unique job name it gave.
type tracked struct {
	JobID, User, JobName string
}

// belongs reports whether st is a record about t's job, and if not, why.
// Scheduler output is hostile text: a record naming another owner or
// another job name is not acted on, whatever it claims. The one record
// without owner and name is a confirmation of absence (State StateUnknown,
// from History's own query about that id), which claims nothing else.
// An empty JobName (a server recorded before names were unique) is not
// compared.
func belongs(t tracked, st batch.JobStatus) (ok bool, why string) {
	switch {
	case st.ID != t.JobID:
		return false, "job id " + batch.Clip(st.ID) + ", not " + t.JobID
	case st.State == batch.StateUnknown && st.User == "" && st.Name == "":
		return true, ""
	case st.User != t.User:
		return false, "owner " + batch.Clip(st.User) + ", not " + t.User
	case t.JobName != "" && st.Name != t.JobName:
		return false, "job name " + batch.Clip(st.Name) + ", not " + t.JobName
	}
	return true, ""
}

// ended decides the final state of a job that has left the queue.
func ended(j job, st batch.JobStatus) verdict {
	if j.State == StateStopping {
		return verdict{To: StateStopped, EndedBy: "user", Reason: "Stopped."}
	}
	wasUp := j.State == StateReady
	switch st.State {
	case batch.StateTimeout:
		return verdict{To: StateStopped, EndedBy: "walltime",
			Reason: fmt.Sprintf("The job reached the end of its walltime (%s) and the scheduler ended it.", FormatDuration(j.Walltime))}
	case batch.StateCancelled:
		return verdict{To: StateStopped, EndedBy: "scheduler",
			Reason: "The job was cancelled outside hpcgate (by you with the scheduler's own command, or by an administrator)." + reasonSuffix(st)}
	case batch.StateCompleted:
		if wasUp {
			return verdict{To: StateStopped, EndedBy: "exit", Reason: "The app exited and the job ended."}
		}
		return verdict{To: StateFailed, Failed: true, EndedBy: "exit",
			Reason: "The job ended before the app answered." + reasonSuffix(st)}
	case batch.StateFailed:
		return verdict{To: StateFailed, Failed: true, EndedBy: "exit",
			Reason: fmt.Sprintf("The job failed with exit code %d.%s", st.ExitCode, reasonSuffix(st))}
	}
	if wasUp {
		return verdict{To: StateStopped, EndedBy: "scheduler",
			Reason: "The job ended; the scheduler keeps no record of how." + reasonSuffix(st)}
	}
	return verdict{To: StateFailed, Failed: true, EndedBy: "scheduler",
		Reason: "The job is no longer known to the scheduler and no record says how it ended."}
}

func reasonSuffix(st batch.JobStatus) string {
	r := strings.TrimSpace(st.Reason)
	if r == "" {
		return ""
	}
	return " The scheduler says: " + r + "."
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "none given"
	}
	return s
}
