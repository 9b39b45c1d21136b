package web

import (
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway/config"

	"hpcgate/gateway"
)

// maxQueueRows bounds the job table: a big centre's queue holds tens of
// thousands of jobs, which no one reads in a browser table; the filters
// narrow it and the JSON has them all.
const maxQueueRows = 500

// queueJobView is a job of the table; its durations are as of the
// snapshot (the page says when that was), so they do not tick.
type queueJobView struct {
	queueJob
	SubmittedAt time.Time
	Waited      string
	Running     string
	TimeLimit   string
}

type countRow struct {
	Partition string
	Cells     []int
	Total     int
}

type queuePageData struct {
	Cluster      *config.Cluster
	APIURL       string
	AdminURL     string
	NoQueue      bool
	HasSnapshot  bool
	AsOf         time.Time
	AsOfUnix     int64
	Age          string
	Err          string
	PollInterval string

	Total, Pending, Running, Hpcgate int

	States     []string
	CountRows  []countRow
	ColTotals  []int
	Nodes      []nodeUse
	StateChart template.HTML
	WaitChart  template.HTML
	WaitsTotal int
	WaitsErr   string

	Filter           queueFilter
	Filtered         bool
	PartitionOptions []adminStateOption
	StateOptions     []adminStateOption
	Jobs             []queueJobView
	Matching         int
	Truncated        bool
}

// queuePage is /hub/admin/queue/<cluster>.
func (s *Server) queuePage(c *gin.Context) {
	cl := s.queueCluster(c, true)
	if cl == nil {
		return
	}
	ctx := c.Request.Context()
	v, err := s.loadQueue(ctx, cl)
	if err != nil {
		s.failPage(c, err)
		return
	}
	now := s.now()
	snap := v.Snapshot
	f := parseQueueFilter(c.Request.URL.Query())
	d := queuePageData{
		Cluster:      cl,
		APIURL:       s.hubPrefix + "api/clusters/" + url.PathEscape(cl.Name) + "/queue",
		AdminURL:     s.adminPath(),
		NoQueue:      v.NoQueue,
		HasSnapshot:  !snap.Time.IsZero(),
		AsOf:         snap.Time,
		Err:          snap.Err,
		PollInterval: gateway.FormatDuration(cl.PollInterval.D()),
		Total:        len(v.Jobs),
		Hpcgate:      v.Hpcgate,
		States:       v.States,
		Nodes:        v.nodesInUse(),
		StateChart:   stateBarsSVG("chart-states", v.partitionBars()),
		Filter:       f,
		Filtered:     f != queueFilter{},
	}
	if d.HasSnapshot {
		d.AsOfUnix = snap.Time.Unix()
		d.Age = gateway.FormatDuration(now.Sub(snap.Time))
	}

	// Counts by partition and state, with totals both ways.
	d.ColTotals = make([]int, len(v.States))
	for _, p := range v.Partitions {
		row := countRow{Partition: orWord(p, "(none)")}
		for i, st := range v.States {
			n := v.Counts[p][st]
			row.Cells = append(row.Cells, n)
			row.Total += n
			d.ColTotals[i] += n
		}
		d.CountRows = append(d.CountRows, row)
		d.PartitionOptions = append(d.PartitionOptions, adminStateOption{Value: p, Label: orWord(p, "(none)"), Selected: p == f.Partition})
	}
	for _, st := range v.States {
		d.StateOptions = append(d.StateOptions, adminStateOption{Value: st, Label: st, Selected: st == f.State})
	}

	waits, err := s.waitsOf(ctx, cl.Name, now.Add(-queueWindow))
	if err != nil {
		s.log.ErrorContext(ctx, "queue page: read queue waits", "site", cl.Name, "err", err)
		d.WaitsErr = "The queue waits could not be read from the hub's database."
	}
	durs := make([]time.Duration, len(waits))
	for i, w := range waits {
		durs[i] = w.Waited
	}
	d.WaitsTotal = len(waits)
	d.WaitChart = waitHistogramSVG("chart-waits", bucketWaits(durs), "24 hours")

	for _, j := range v.Jobs {
		switch j.State {
		case jobPending:
			d.Pending++
		case jobRunning:
			d.Running++
		}
		if !f.keep(j) {
			continue
		}
		d.Matching++
		if len(d.Jobs) < maxQueueRows {
			d.Jobs = append(d.Jobs, jobView(j))
		}
	}
	d.Truncated = d.Matching > len(d.Jobs)
	s.render(c, http.StatusOK, "queue.html", "Queue of "+cl.Title, d, "admin.js")
}

// ShowReason: a reason without words (a node failure, a pending code the
// scheduler's adapter has no words for) is shown raw.
func (v queueJobView) ShowReason() bool { return v.Reason != "" }

func jobView(j queueJob) queueJobView {
	v := queueJobView{queueJob: j}
	if j.Submitted != nil {
		v.SubmittedAt = *j.Submitted
	}
	if j.Submitted != nil && (j.State == jobPending || j.Started != nil) {
		v.Waited = gateway.FormatDuration(time.Duration(j.WaitedSeconds) * time.Second)
	}
	if j.Started != nil && j.State != jobPending {
		v.Running = gateway.FormatDuration(time.Duration(j.RunningSeconds) * time.Second)
	}
	if j.TimeLimitSeconds > 0 {
		v.TimeLimit = gateway.FormatDuration(time.Duration(j.TimeLimitSeconds) * time.Second)
	}
	return v
}
