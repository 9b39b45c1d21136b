package gateway

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"hpcgate/batch"
)

// poller follows every job of one cluster with ONE status command per
// interval, however many jobs there are: fast while something starts, slow
// otherwise, with jitter so hubs restarted together don't poll in step.
type poller struct {
	mu      sync.Mutex // one poll at a time: the loop and cron's reconcile share it
	h       *Hub
	c       *Cluster
	kickCh  chan struct{}
	fast    bool      // something was starting at the last poll
	follows bool      // another replica polls this cluster: try to take over every interval
	lastEst time.Time // last estimated-start query
	last    time.Time // last poll
}

func (p *poller) kick() {
	select {
	case p.kickCh <- struct{}{}:
	default:
	}
}

func (p *poller) interval() time.Duration {
	p.mu.Lock()
	fast, follows := p.fast, p.follows
	p.mu.Unlock()
	d := time.Duration(p.c.Config.PollInterval)
	if follows {
		// Jitter only shortens the wait: a leader's death is followed
		// by a takeover within one interval.
		return d - time.Duration(rand.Float64()*0.1*float64(d))
	}
	if fast {
		d = time.Duration(p.c.Config.FastPollInterval)
	}
	// ±10% jitter
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}

func (p *poller) run(ctx context.Context) {
	t := time.NewTimer(p.interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.kickCh:
			// a kick (a spawn, a stop) polls soon, not at once: sbatch's
			// job needs a moment to show in squeue, and several kicks
			// in a row collapse into one poll.
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
			t.Reset(500 * time.Millisecond)
			continue
		case <-t.C:
		}
		p.poll(ctx)
		t.Reset(p.interval())
	}
}

// poll is one round: one Status call for all tracked jobs of the cluster,
// a History call only for jobs missing from it, and the decisions. With
// replicas, only the one leading the cluster polls; the others try to
// take the lead each time and otherwise do nothing.
func (p *poller) poll(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, c := p.h, p.c
	if p.follows = !h.lead(ctx, lockPoll(c.Config.Name)); p.follows {
		return
	}
	p.last = h.now()
	servers, err := h.servers.ListServers(ctx, ServerFilter{Cluster: c.Config.Name, States: ActiveStates})
	if err != nil {
		h.log.Error("poll: list servers", "cluster", c.Config.Name, "err", err)
		return
	}
	p.fast = false
	var ids []string
	byJob := map[string]*Server{}
	for _, s := range servers {
		if s.State == StateSubmitting || s.State == StateStarting || s.State == StateStopping ||
			(s.State == StateQueued && h.now().Sub(s.Submitted) < 2*time.Minute) {
			p.fast = true
		}
		if s.JobID != "" {
			ids = append(ids, s.JobID)
			byJob[s.JobID] = s
		} else if lostSubmission(s) && !h.submitting(s.ID) && h.now().Sub(s.Created) > adoptAfter {
			h.adopt(ctx, c, s) // its submission died with an earlier hub process or another replica
		}
	}
	h.metrics.tracked(c.Config.Name, servers)
	p.refreshQueue(ctx)
	if len(ids) == 0 {
		return
	}
	start := h.now()
	status, err := c.Scheduler.Status(ctx, ids)
	h.metrics.command(c.Config.Name, "status", h.now().Sub(start), err)
	if err != nil {
		// A failed query is never a state: change nothing, try again.
		h.log.Warn("poll: status query failed; states unchanged", "cluster", c.Config.Name, "jobs", len(ids), "err", err)
		return
	}
	var missing []string
	for id, srv := range byJob {
		st, ok := status[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		h.clearMiss(srv.ID)
		h.report(ctx, c, srv, st)
	}
	if len(missing) > 0 {
		p.confirmGone(ctx, missing, byJob)
	}
	p.estimate(ctx, servers, status)
}

// confirmGone handles jobs the queue no longer lists. Missing once is not
// proof: a job is declared ended when the scheduler's history says so, or
// when it is missing from two polls in a row.
func (p *poller) confirmGone(ctx context.Context, missing []string, byJob map[string]*Server) {
	h, c := p.h, p.c
	var hist map[string]batch.JobStatus
	if hs, ok := c.Scheduler.(batch.History); ok {
		start := h.now()
		var err error
		hist, err = hs.History(ctx, missing)
		h.metrics.command(c.Config.Name, "history", h.now().Sub(start), err)
		if err != nil {
			h.log.Warn("poll: history query failed", "cluster", c.Config.Name, "err", err)
			hist = nil
		}
	}
	for _, id := range missing {
		srv := byJob[id]
		// History answering at all (a final state, or unknown: "certainly
		// ended, outcome not recorded") is the second signal.
		if st, ok := hist[id]; ok && (st.State.Terminal() || st.State == batch.StateUnknown) {
			h.report(ctx, c, srv, st)
			continue
		}
		if srv.State == StateStopping || h.miss(srv.ID) >= 2 {
			h.report(ctx, c, srv, batch.JobStatus{ID: id, State: batch.StateUnknown})
		}
	}
}

// estimate asks for start estimates of pending jobs, at most once per slow
// interval: it is a second command, so it stays off the fast path.
func (p *poller) estimate(ctx context.Context, servers []*Server, status map[string]batch.JobStatus) {
	h, c := p.h, p.c
	est, ok := c.Scheduler.(batch.StartEstimator)
	if !ok || h.now().Sub(p.lastEst) < time.Duration(c.Config.PollInterval) {
		return
	}
	var pending []string
	for _, s := range servers {
		if st, ok := status[s.JobID]; ok && st.State == batch.StatePending && st.EstimatedStart.IsZero() {
			pending = append(pending, s.JobID)
		}
	}
	if len(pending) == 0 {
		return
	}
	p.lastEst = h.now()
	start := h.now()
	times, err := est.EstimateStart(ctx, pending)
	h.metrics.command(c.Config.Name, "estimate", h.now().Sub(start), err)
	if err != nil {
		h.log.Warn("poll: start estimate failed", "cluster", c.Config.Name, "err", err)
		return
	}
	for _, s := range servers {
		if t, ok := times[s.JobID]; ok && !t.Equal(s.EstimatedStart) {
			if err := h.servers.SetSchedStatus(ctx, s.ID, SchedStatus{State: s.SchedState, EstimatedStart: t}); err == nil {
				h.refresh(ctx, s.ID)
			}
		}
	}
}

// lastPoll is when this replica last polled.
func (p *poller) lastPoll() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// stale reports whether the poller has not polled for a whole slow
// interval (its loop is stuck, or the hub clock jumped).
func (p *poller) stale() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.h.now().Sub(p.last) >= time.Duration(p.c.Config.PollInterval)
}

func (h *Hub) submitting(id int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inflight[id]
}

func (h *Hub) miss(id int64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.misses[id]++
	return h.misses[id]
}

func (h *Hub) clearMiss(id int64) {
	h.mu.Lock()
	delete(h.misses, id)
	h.mu.Unlock()
}
