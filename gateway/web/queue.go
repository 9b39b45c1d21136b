package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
	"hpcgate/gateway/config"
)

// A cluster's queue as sysadmins watch it: every job (not only hpcgate's)
// from the snapshot one squeue/qstat per poll interval takes, shared by all
// viewers of the page and the API. Reading it marks the queue watched; the
// poller does the rest (gateway/queue.go).

// The queue view's states, as batch normalises them (web may not import
// batch).
const (
	jobPending    = "pending"
	jobRunning    = "running"
	jobCompleting = "completing"
)

// queueWindow is how far back the queue-wait histogram looks by default.
const queueWindow = 24 * time.Hour

// hubCluster returns the configured cluster the hub runs, or nil.
func (s *Server) hubCluster(name string) *config.Cluster {
	for _, cl := range s.hub.Clusters() {
		if cl.Name == name {
			return cl
		}
	}
	return nil
}

// queueFilter narrows the job list: ?user=&partition=&state=.
type queueFilter struct {
	User, Partition, State string
}

func parseQueueFilter(q url.Values) queueFilter {
	return queueFilter{
		User:      strings.TrimSpace(q.Get("user")),
		Partition: strings.TrimSpace(q.Get("partition")),
		State:     strings.TrimSpace(q.Get("state")),
	}
}

func (f queueFilter) keep(j queueJob) bool {
	return (f.User == "" || j.User == f.User) &&
		(f.Partition == "" || j.Partition == f.Partition) &&
		(f.State == "" || j.State == f.State)
}

// queueJob is one job of the snapshot, for the page and the JSON.
type queueJob struct {
	ID               string     `json:"id"`
	Name             string     `json:"name"`
	User             string     `json:"user"`
	Partition        string     `json:"partition"`
	State            string     `json:"state"`
	RawState         string     `json:"raw_state"`
	Reason           string     `json:"reason"`
	ReasonText       string     `json:"reason_text,omitempty"`
	Node             string     `json:"node"`
	Cores            int        `json:"cores,omitempty"`
	Submitted        *time.Time `json:"submitted"`
	Started          *time.Time `json:"started"`
	EstimatedStart   *time.Time `json:"estimated_start"`
	TimeLimitSeconds int64      `json:"time_limit_seconds"`
	WaitedSeconds    int64      `json:"waited_seconds"`
	RunningSeconds   int64      `json:"running_seconds"`
	// Hpcgate marks the jobs of hpcgate's servers (by job id, from the
	// hub's records, not by name).
	Hpcgate bool `json:"hpcgate"`
}

// queueView is a snapshot made ready for the page and the JSON.
type queueView struct {
	Cluster  *config.Cluster
	Snapshot gateway.QueueSnapshot
	NoQueue  bool // the scheduler adapter cannot list the queue
	Jobs     []queueJob
	// Counts are jobs by partition and state; States their columns.
	Counts     map[string]map[string]int
	States     []string
	Partitions []string
	Hpcgate    int
}

// loadQueue reads the cluster's cached snapshot (marking it watched) and
// marks which jobs are hpcgate's, from the hub's own records.
func (s *Server) loadQueue(ctx context.Context, cl *config.Cluster) (*queueView, error) {
	v := &queueView{Cluster: cl, Counts: map[string]map[string]int{}}
	snap, err := s.hub.Queue(cl.Name)
	switch {
	case errors.Is(err, gateway.ErrNoQueue):
		v.NoQueue, v.Snapshot = true, gateway.QueueSnapshot{Cluster: cl.Name}
		return v, nil
	case err != nil:
		return nil, fmt.Errorf("queue of %s: %w", cl.Name, err)
	}
	v.Snapshot = snap
	infos, err := s.hub.Servers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	ours := map[string]*gateway.ServerInfo{}
	for _, info := range infos {
		if info.Cluster == cl.Name && info.JobID != "" {
			ours[info.JobID] = info
		}
	}
	states := map[string]bool{}
	for _, js := range snap.Jobs {
		j := queueJob{
			ID: js.ID, Name: js.Name, User: js.User, Partition: js.Partition,
			State: string(js.State), RawState: js.RawState, Reason: js.Reason, Node: js.Node, Cores: js.Cores,
			Submitted: timePtr(js.Submitted), Started: timePtr(js.Started), EstimatedStart: timePtr(js.EstimatedStart),
			TimeLimitSeconds: int64(js.TimeLimit / time.Second),
		}
		if j.State == jobPending {
			j.ReasonText = s.hub.ExplainReason(cl.Name, js.Reason)
			if !js.Submitted.IsZero() {
				j.WaitedSeconds = int64(max(snap.Time.Sub(js.Submitted), 0) / time.Second)
			}
		} else if !js.Started.IsZero() && !js.Submitted.IsZero() {
			j.WaitedSeconds = int64(max(js.Started.Sub(js.Submitted), 0) / time.Second)
		}
		if !js.Started.IsZero() && j.State != jobPending {
			j.RunningSeconds = int64(max(snap.Time.Sub(js.Started), 0) / time.Second)
		}
		if info, ok := ours[js.ID]; ok && (info.User == js.User || js.User == "") {
			j.Hpcgate = true
			v.Hpcgate++
		}
		v.Jobs = append(v.Jobs, j)
		if v.Counts[j.Partition] == nil {
			v.Counts[j.Partition] = map[string]int{}
		}
		v.Counts[j.Partition][j.State]++
		states[j.State] = true
	}
	for p := range v.Counts {
		v.Partitions = append(v.Partitions, p)
	}
	sort.Strings(v.Partitions)
	v.States = orderStates(states)
	return v, nil
}

// orderStates lists the states present, the queue's own first.
func orderStates(present map[string]bool) []string {
	var out []string
	for _, st := range []string{jobPending, jobRunning, jobCompleting} {
		if present[st] {
			out = append(out, st)
			delete(present, st)
		}
	}
	var rest []string
	for st := range present {
		rest = append(rest, st)
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// partitionBars are the state chart's bars: each partition's jobs by the
// chart's states (anything but running, pending, completing is "other").
func (v *queueView) partitionBars() []partitionBar {
	var out []partitionBar
	for _, p := range v.Partitions {
		bar := partitionBar{Partition: orWord(p, "(none)"), Counts: map[string]int{}}
		for st, n := range v.Counts[p] {
			switch st {
			case jobPending, jobRunning, jobCompleting:
				bar.Counts[st] += n
			default:
				bar.Counts["other"] += n
			}
			bar.Total += n
		}
		out = append(out, bar)
	}
	return out
}

// nodeUse is one node as the running jobs in the snapshot show it.
type nodeUse struct {
	Node  string `json:"node"`
	Jobs  int    `json:"jobs"`
	Cores int    `json:"cores,omitempty"`
	Users int    `json:"users"`
}

// nodesInUse counts the running jobs on each node. The snapshot holds
// jobs, not nodes: idle, down or drained nodes are not in it, and a
// multi-node job counts on its first node only.
func (v *queueView) nodesInUse() []nodeUse {
	byNode := map[string]*nodeUse{}
	users := map[string]map[string]bool{}
	for _, j := range v.Jobs {
		if (j.State != jobRunning && j.State != jobCompleting) || j.Node == "" {
			continue
		}
		n := byNode[j.Node]
		if n == nil {
			n = &nodeUse{Node: j.Node}
			byNode[j.Node] = n
			users[j.Node] = map[string]bool{}
		}
		n.Jobs++
		n.Cores += j.Cores
		users[j.Node][j.User] = true
	}
	out := make([]nodeUse, 0, len(byNode))
	for name, n := range byNode {
		n.Users = len(users[name])
		out = append(out, *n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// waitsOf returns the queue waits of the cluster's hpcgate jobs that
// started since.
func (s *Server) waitsOf(ctx context.Context, cluster string, since time.Time) ([]gateway.QueueWait, error) {
	all, err := s.hub.QueueWaits(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("queue waits since %s: %w", since.Format(time.RFC3339), err)
	}
	var out []gateway.QueueWait
	for _, w := range all {
		if w.Cluster == cluster {
			out = append(out, w)
		}
	}
	return out, nil
}

func orWord(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// queueCluster finds :cluster or answers 404.
func (s *Server) queueCluster(c *gin.Context, page bool) *config.Cluster {
	name := c.Param("cluster")
	if cl := s.hubCluster(name); cl != nil {
		return cl
	}
	msg := fmt.Sprintf("There is no cluster %q here.", name)
	if page {
		s.errorPage(c, http.StatusNotFound, msg)
	} else {
		jsonError(c, http.StatusNotFound, msg)
	}
	return nil
}
