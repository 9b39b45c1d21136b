package gateway

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"hpcgate/batch"
)

// QueueSnapshot is a cluster's whole queue (every user's jobs, not only
// hpcgate's) as one squeue/qstat reported it. Pages and the API read the
// latest snapshot; they never run a scheduler command themselves.
type QueueSnapshot struct {
	Cluster string
	Time    time.Time // when the scheduler answered; zero before the first answer
	Jobs    []batch.JobStatus
	Err     string // the last refresh's error, if it failed (Jobs are then older)
}

// Counts are the snapshot's jobs by partition and normalised state.
func (q QueueSnapshot) Counts() map[string]map[batch.State]int {
	out := map[string]map[batch.State]int{}
	for _, j := range q.Jobs {
		p := j.Partition
		if out[p] == nil {
			out[p] = map[batch.State]int{}
		}
		out[p][j.State]++
	}
	return out
}

// queueCache holds one snapshot per cluster and remembers whether anyone
// looked recently: the poller refreshes a snapshot once per poll interval,
// and only while someone watches (or it has never been taken).
type queueCache struct {
	mu      sync.Mutex
	snaps   map[string]QueueSnapshot
	watched map[string]time.Time
}

// watchWindow is how long after a page view the queue keeps being polled.
const watchWindow = 5 * time.Minute

// ErrNoQueue is returned for a cluster whose scheduler cannot list its
// whole queue.
var ErrNoQueue = errors.New("this scheduler adapter cannot list the whole queue")

// Queue returns the cluster's latest queue snapshot and marks it watched.
func (h *Hub) Queue(cluster string) (QueueSnapshot, error) {
	c, err := h.cluster(cluster)
	if err != nil {
		return QueueSnapshot{}, err
	}
	if _, ok := c.Scheduler.(batch.QueueReader); !ok {
		return QueueSnapshot{Cluster: c.Config.Name}, ErrNoQueue
	}
	h.queues.mu.Lock()
	defer h.queues.mu.Unlock()
	first := h.queues.watched[c.Config.Name].IsZero()
	h.queues.watched[c.Config.Name] = h.now()
	snap, ok := h.queues.snaps[c.Config.Name]
	if !ok {
		snap = QueueSnapshot{Cluster: c.Config.Name}
	}
	if first {
		h.kick(c.Config.Name) // the first viewer should not wait a whole interval
	}
	return snap, nil
}

// refreshQueue is called by the poller: one queue command per poll
// interval, shared by every viewer, while the queue is watched.
func (p *poller) refreshQueue(ctx context.Context) {
	h, c := p.h, p.c
	qr, ok := c.Scheduler.(batch.QueueReader)
	if !ok {
		return
	}
	name := c.Config.Name
	h.queues.mu.Lock()
	watched := h.queues.watched[name]
	last := h.queues.snaps[name].Time
	h.queues.mu.Unlock()
	now := h.now()
	if watched.IsZero() || now.Sub(watched) > watchWindow {
		return
	}
	if !last.IsZero() && now.Sub(last) < time.Duration(c.Config.PollInterval)*9/10 {
		return
	}
	start := h.now()
	jobs, err := qr.Queue(ctx)
	h.metrics.command(name, "queue", h.now().Sub(start), err)
	h.queues.mu.Lock()
	defer h.queues.mu.Unlock()
	snap := h.queues.snaps[name]
	snap.Cluster = name
	if err != nil {
		snap.Err = err.Error()
		h.log.Warn("queue snapshot failed", "cluster", name, "err", err)
	} else {
		sort.Slice(jobs, func(i, j int) bool { return jobs[i].Submitted.Before(jobs[j].Submitted) })
		snap = QueueSnapshot{Cluster: name, Time: h.now(), Jobs: jobs}
	}
	h.queues.snaps[name] = snap
}

// QueueWait is how long one hpcgate job waited in the queue.
type QueueWait struct {
	Time    time.Time // when it started running
	User    string
	Cluster string
	Waited  time.Duration
}

// QueueWaits returns the queue waits of hpcgate jobs that started since t,
// from the event log (so they survive restarts).
func (h *Hub) QueueWaits(ctx context.Context, since time.Time) ([]QueueWait, error) {
	evs, err := h.events.ListEvents(ctx, EventFilter{Since: since, Kind: "running", Limit: 10000})
	if err != nil {
		return nil, err
	}
	out := make([]QueueWait, 0, len(evs))
	for _, e := range evs {
		secs, ok := e.Data["queued_seconds"].(float64)
		if !ok {
			continue
		}
		out = append(out, QueueWait{Time: e.Time, User: e.User, Cluster: e.Cluster, Waited: time.Duration(secs * float64(time.Second))})
	}
	return out, nil
}
