package gateway

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Progress is one step of a server's life as the spawn-pending page and the
// progress event stream (/hub/api/users/<name>/server/progress) show it. The
// JSON keys progress, message, ready, failed and url are JupyterHub's; the
// others say what a queue wait needs: why it waits, when it may start, how
// long it has waited.
type Progress struct {
	Time           time.Time   `json:"time,omitzero"` // none on events the web layer makes up
	State          ServerState `json:"state"`
	Label          string      `json:"label"` // State.Label(): pending.js shows it as the page does
	Progress       int         `json:"progress"`
	Message        string      `json:"message"`
	Reason         string      `json:"reason,omitempty"`
	JobID          string      `json:"job_id,omitempty"`
	Node           string      `json:"node,omitempty"`
	EstimatedStart *time.Time  `json:"estimated_start,omitempty"`
	QueuedSeconds  int64       `json:"queued_seconds,omitempty"`
	WalltimeLeft   int64       `json:"walltime_left_seconds,omitempty"`
	Ready          bool        `json:"ready,omitempty"`
	Failed         bool        `json:"failed,omitempty"`
	Stopped        bool        `json:"stopped,omitempty"`
	URL            string      `json:"url,omitempty"`
	LogTail        string      `json:"log_tail,omitempty"`
	// Warning is set on a ready server's event when its walltime is about
	// to end (see WalltimeWarning).
	Warning string `json:"warning,omitempty"`
}

// Final reports whether no more progress will follow.
func (p Progress) Final() bool { return p.Ready || p.Failed || p.Stopped }

// broker fans progress out to the event streams watching a server. It keeps
// the last event per server so a page opened late starts from the current
// state. Slow readers lose intermediate events, never the latest one.
type broker struct {
	mu   sync.Mutex
	subs map[string]map[chan Progress]struct{}
	last map[string]Progress
}

func newBroker() *broker {
	return &broker{subs: map[string]map[chan Progress]struct{}{}, last: map[string]Progress{}}
}

func serverKey(user, server string) string { return user + "/" + server }

func (b *broker) publish(key string, p Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last[key] = p
	for ch := range b.subs[key] {
		select {
		case ch <- p:
		default: // full: drop the oldest, keep the newest
			select {
			case <-ch:
			default:
			}
			select {
			case ch <- p:
			default:
			}
		}
	}
}

// subscribe returns a channel of the server's progress, starting with the
// last event published, and a function that ends the subscription.
func (b *broker) subscribe(key string) (<-chan Progress, func()) {
	ch := make(chan Progress, 16)
	b.mu.Lock()
	if b.subs[key] == nil {
		b.subs[key] = map[chan Progress]struct{}{}
	}
	b.subs[key][ch] = struct{}{}
	if p, ok := b.last[key]; ok {
		ch <- p
	}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs[key], ch)
		if len(b.subs[key]) == 0 {
			delete(b.subs, key)
		}
		b.mu.Unlock()
	}
}

func (b *broker) lastOf(key string) (Progress, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.last[key]
	return p, ok
}

// watched reports whether a stream follows key.
func (b *broker) watched(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs[key]) > 0
}

// keys are the servers with a progress kept or followed.
func (b *broker) keys() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.last)+len(b.subs))
	for k := range b.last {
		out = append(out, k)
	}
	for k := range b.subs {
		out = append(out, k)
	}
	return out
}

func (b *broker) forget(key string) {
	b.mu.Lock()
	delete(b.last, key)
	b.mu.Unlock()
}

// Subscribe follows a server's progress; the first event is its current
// state. The returned function ends the subscription.
func (h *Hub) Subscribe(user, server string) (<-chan Progress, func()) {
	key := serverKey(user, server)
	if _, ok := h.broker.lastOf(key); !ok {
		if srv, err := h.servers.GetServer(h.ctx, user, server); err == nil {
			h.broker.publish(key, h.progressOf(srv))
		}
	}
	return h.broker.subscribe(key)
}

// publish tells the watchers of srv its current progress, and the other
// replicas that srv changed: a stream on any replica follows it (Hear).
func (h *Hub) publish(srv *Server) {
	h.broker.publish(serverKey(srv.User, srv.Name), h.progressOf(srv))
	h.tell(topicServer, strconv.FormatInt(srv.ID, 10))
}

// progressOf describes srv for the pending page and the event stream.
func (h *Hub) progressOf(srv *Server) Progress {
	now := h.now()
	p := Progress{Time: now, State: srv.State, Label: srv.State.Label(), Progress: srv.State.Progress(), JobID: srv.JobID, Node: srv.Node}
	info := h.info(srv)
	switch srv.State {
	case StateSubmitting:
		p.Message = "Submitting the job to " + srv.Cluster + "…"
	case StateQueued:
		p.Reason = srv.Reason
		if !srv.Submitted.IsZero() {
			p.QueuedSeconds = int64(now.Sub(srv.Submitted) / time.Second)
		}
		p.Message = fmt.Sprintf("Job %s is waiting in the queue (%s)", srv.JobID, orDefault(srv.Reason, "no reason given yet"))
		if !srv.EstimatedStart.IsZero() {
			t := srv.EstimatedStart
			p.EstimatedStart = &t
		}
	case StateStarting:
		p.QueuedSeconds = int64(srv.Started.Sub(srv.Submitted) / time.Second)
		if srv.Port == 0 {
			p.Message = fmt.Sprintf("Job %s is running on %s; starting the app…", srv.JobID, orDefault(srv.Node, "its node"))
		} else {
			p.Message = fmt.Sprintf("The app listens on %s:%d; waiting for it to answer…", srv.Host, srv.Port)
		}
	case StateReady:
		p.Ready, p.URL = true, info.URL
		p.Message = "Server ready at " + info.URL
		p.WalltimeLeft = int64(info.WalltimeLeft(now) / time.Second)
	case StateStopping:
		p.Message = "Stopping: cancelling job " + srv.JobID + "…"
	case StateStopped:
		p.Stopped, p.Reason = true, srv.Reason
		p.Message = "Server stopped. " + srv.Reason
	case StateFailed:
		p.Failed, p.Reason = true, srv.Reason
		p.Message = "Spawn failed: " + firstLine(srv.Reason)
		if i := strings.Index(srv.Reason, "\n\n"); i >= 0 {
			p.LogTail = strings.TrimSpace(srv.Reason[i:])
		}
	}
	return p
}

func firstLine(s string) string {
	if i := strings.Index(s, "\n"); i >= 0 {
		return s[:i]
	}
	return s
}
