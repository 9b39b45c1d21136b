package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// queueModel is GET /hub/api/clusters/<name>/queue: the cached snapshot.
type queueModel struct {
	Cluster string `json:"cluster"`
	// Time is when the scheduler answered; null before the first answer.
	Time       *time.Time                `json:"time"`
	AgeSeconds *int64                    `json:"age_seconds"`
	Error      string                    `json:"error,omitempty"`
	Counts     map[string]map[string]int `json:"counts"`
	Nodes      []nodeUse                 `json:"nodes_in_use"`
	Hpcgate    int                       `json:"hpcgate_jobs"`
	Jobs       []queueJob                `json:"jobs"`
}

// apiQueue is GET /hub/api/clusters/<name>/queue[?user=&partition=&state=]:
// the whole queue as of the last snapshot (counts and nodes are over all
// jobs; the filters narrow the list). 404 for a scheduler that cannot
// list its queue.
func (s *Server) apiQueue(c *gin.Context) {
	cl := s.queueCluster(c, false)
	if cl == nil {
		return
	}
	v, err := s.loadQueue(c.Request.Context(), cl)
	if err != nil {
		s.fail(c, err)
		return
	}
	if v.NoQueue {
		jsonError(c, http.StatusNotFound, "The "+cl.Scheduler+" adapter of "+cl.Name+" cannot list the whole queue.")
		return
	}
	m := queueModel{
		Cluster: cl.Name, Time: timePtr(v.Snapshot.Time), Error: v.Snapshot.Err,
		Counts: v.Counts, Nodes: v.nodesInUse(), Hpcgate: v.Hpcgate, Jobs: []queueJob{},
	}
	if m.Time != nil {
		age := int64(s.now().Sub(v.Snapshot.Time) / time.Second)
		m.AgeSeconds = &age
	}
	f := parseQueueFilter(c.Request.URL.Query())
	for _, j := range v.Jobs {
		if f.keep(j) {
			m.Jobs = append(m.Jobs, j)
		}
	}
	c.JSON(http.StatusOK, m)
}

// maxWaitsSpan bounds ?since=: the event log is read in one query.
const maxWaitsSpan = 31 * 24 * time.Hour

type waitModel struct {
	Time          time.Time `json:"time"`
	User          string    `json:"user"`
	WaitedSeconds float64   `json:"waited_seconds"`
}

type bucketModel struct {
	Label      string `json:"label"`
	MinSeconds int64  `json:"min_seconds"`
	MaxSeconds *int64 `json:"max_seconds"`
	Count      int    `json:"count"`
}

// apiQueueWaits is GET /hub/api/clusters/<name>/queue-waits?since=24h:
// how long each hpcgate job that started since then waited, and the
// page's histogram of them. since is a duration back from now (24h,
// 90m) or an RFC 3339 time; at most 31 days back.
func (s *Server) apiQueueWaits(c *gin.Context) {
	cl := s.queueCluster(c, false)
	if cl == nil {
		return
	}
	now := s.now()
	since, err := parseSince(c.Query("since"), now)
	if err != nil {
		s.fail(c, err)
		return
	}
	waits, err := s.waitsOf(c.Request.Context(), cl.Name, since)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := struct {
		Cluster   string        `json:"cluster"`
		Since     time.Time     `json:"since"`
		Waits     []waitModel   `json:"waits"`
		Histogram []bucketModel `json:"histogram"`
	}{Cluster: cl.Name, Since: since.UTC(), Waits: []waitModel{}}
	durs := make([]time.Duration, 0, len(waits))
	for _, w := range waits {
		out.Waits = append(out.Waits, waitModel{Time: w.Time.UTC(), User: w.User, WaitedSeconds: w.Waited.Seconds()})
		durs = append(durs, w.Waited)
	}
	for _, b := range bucketWaits(durs) {
		bm := bucketModel{Label: b.Label, MinSeconds: int64(b.Min / time.Second), Count: b.Count}
		if b.Max > 0 {
			m := int64(b.Max / time.Second)
			bm.MaxSeconds = &m
		}
		out.Histogram = append(out.Histogram, bm)
	}
	c.JSON(http.StatusOK, out)
}

// parseSince reads ?since=: empty is 24 hours ago.
func parseSince(v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return now.Add(-queueWindow), nil
	}
	since, err := time.Parse(time.RFC3339, v)
	if err != nil {
		d, derr := time.ParseDuration(v)
		if derr != nil || d <= 0 {
			return time.Time{}, gateway.FieldError("since", "must be a duration back from now (24h, 90m) or an RFC 3339 time")
		}
		since = now.Add(-d)
	}
	if now.Sub(since) > maxWaitsSpan {
		return time.Time{}, gateway.FieldError("since", "may reach back at most 31 days")
	}
	return since, nil
}
