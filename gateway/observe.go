package gateway

import (
	"context"
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
