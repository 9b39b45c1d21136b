package web

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"hpcgate/batch"
	"hpcgate/gateway"
)

// testQueue is a Slurm queue as squeue reports it to the adapter: other
// users' jobs beside alice's (4242) and bob's (4243) hpcgate servers, and
// a job that is named like hpcgate's but is not one of its servers.
func testQueue(now time.Time) []batch.JobStatus {
	j := func(id, user, name, part string, st batch.State, raw, reason, node string, cores int, queued, ran time.Duration) batch.JobStatus {
		js := batch.JobStatus{ID: id, User: user, Name: name, Partition: part, State: st, RawState: raw, Reason: reason,
			Node: node, Cores: cores, Submitted: now.Add(-queued - ran), TimeLimit: 4 * time.Hour}
		if ran > 0 {
			js.Started = now.Add(-ran)
		}
		return js
	}
	return []batch.JobStatus{
		j("4242", "alice", "hpcgate-alice-default-1a2b3c4d", "debug", batch.StatePending, "PENDING", "Resources", "", 2, 3*time.Minute, 0),
		j("4243", "bob", "hpcgate-bob-default-5e6f7a8b", "debug", batch.StateRunning, "RUNNING", "None", "c1", 2, 3*time.Minute, time.Hour),
		j("4250", "erin", "vasp_relax", "long", batch.StateRunning, "RUNNING", "None", "c2", 16, 2*time.Hour, 5*time.Hour),
		j("4251", "erin", "vasp_relax", "long", batch.StateRunning, "RUNNING", "None", "c2", 16, 2*time.Hour, 4*time.Hour),
		j("4252", "frank", "train.sh", "gpu", batch.StatePending, "PENDING", "QOSMaxGRESPerUser", "", 8, 6*time.Hour, 0),
		j("4253", "frank", "train.sh", "gpu", batch.StatePending, "PENDING", "Priority", "", 8, 5*time.Hour, 0),
		j("4254", "gina", "post", "debug", batch.StateCompleting, "COMPLETING", "None", "c1", 1, time.Minute, 20*time.Minute),
		j("4255", "gina", "array_7", "long", batch.StatePending, "PENDING", "Dependency", "", 1, 10*time.Minute, 0),
		j("4256", "henry", "hpcgate-henry-default-00000000", "debug", batch.StatePending, "PENDING", "Priority", "", 1, time.Minute, 0),
		j("4257", "ivan", "md", "long", batch.StateFailed, "NODE_FAIL", "NodeFail", "c3", 4, time.Hour, time.Hour),
	}
}

// testWaits are hpcgate's queue waits of the last day: on local 3 under a
// minute, 1 of 1–5 min, none of 5–15, 2 of 15–60, 1 of 1–4 h and 2 over
// 4 h; one on the other cluster.
func testWaits(now time.Time) []gateway.QueueWait {
	var out []gateway.QueueWait
	for _, d := range []time.Duration{10 * time.Second, 30 * time.Second, 59 * time.Second, time.Minute,
		15 * time.Minute, 59 * time.Minute, time.Hour, 4 * time.Hour, 10 * time.Hour} {
		out = append(out, gateway.QueueWait{Time: now.Add(-time.Hour), User: "alice", Cluster: "local", Waited: d})
	}
	return append(out, gateway.QueueWait{Time: now.Add(-time.Hour), User: "bob", Cluster: "other", Waited: 20 * time.Second})
}

// queueEnv is adminEnv with the local queue's snapshot taken 12 s ago;
// the other cluster's adapter cannot list its queue.
func queueEnv(t *testing.T) (*env, *hubCalls, *time.Time) {
	e, calls := adminEnv(t)
	now := e.clock.Now()
	since := new(time.Time)
	e.hub.QueueFn = func(cluster string) (gateway.QueueSnapshot, error) {
		calls.add("Queue")
		if cluster != "local" {
			return gateway.QueueSnapshot{Cluster: cluster}, gateway.ErrNoQueue
		}
		return gateway.QueueSnapshot{Cluster: "local", Time: now.Add(-12 * time.Second), Jobs: testQueue(now)}, nil
	}
	e.hub.QueueWaitsFn = func(_ context.Context, s time.Time) ([]gateway.QueueWait, error) {
		calls.add("QueueWaits")
		*since = s
		return testWaits(now), nil
	}
	return e, calls, since
}

var (
	reSegment = regexp.MustCompile(`<text class="label"[^>]*>([^<]+)</text>|<rect class="seg" data-state="(\w+)" data-count="(\d+)"`)
	reBar     = regexp.MustCompile(`<rect class="bar" data-count="(\d+)"`)
)

func TestQueuePage(t *testing.T) {
	e, calls, since := queueEnv(t)
	carol := e.browser()
	carol.login("carol", "carol-pass")
	resp, body := carol.get("/hub/admin/queue/local")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		"<h1>Queue of Loopback Slurm</h1>",
		`As of <span data-since="` + itoa(e.clock.Now().Add(-12*time.Second).Unix()) + `">12s</span> ago`,
		// counts by partition and state, totals both ways
		`<th scope="col" class="num">pending</th><th scope="col" class="num">running</th><th scope="col" class="num">completing</th><th scope="col" class="num">failed</th>`,
		`<th scope="row">debug</th><td class="num">2</td><td class="num">1</td><td class="num">1</td><td class="num">0</td><td class="num"><strong>4</strong>`,
		`<th scope="row">gpu</th><td class="num">2</td><td class="num">0</td><td class="num">0</td><td class="num">0</td><td class="num"><strong>2</strong>`,
		`<th scope="row">long</th><td class="num">1</td><td class="num">2</td><td class="num">0</td><td class="num">1</td><td class="num"><strong>4</strong>`,
		`<th scope="row">all</th><td class="num">5</td><td class="num">3</td><td class="num">1</td><td class="num">1</td><td class="num"><strong>10</strong>`,
		// nodes of running jobs, honestly labelled
		`<th scope="row" class="mono">c1</th><td class="num">2</td><td class="num">3</td><td class="num">2</td>`,
		`<th scope="row" class="mono">c2</th><td class="num">2</td><td class="num">32</td><td class="num">1</td>`,
		"Idle, down or drained nodes are not shown",
		// the scheduler's reason in words, with its own
		`all the GPUs your QOS allows <span class="raw">(QOSMaxGRESPerUser)</span>`,
		// durations as of the snapshot, 12 s ago
		`<td class="num">2m 48s</td>`, "waiting for another job to finish <span class=\"raw\">(Dependency)</span>",
		`<th scope="row" class="mono">4242 <span class="tag">hpcgate</span></th>`,
		`<th scope="row" class="mono">4243 <span class="tag">hpcgate</span></th>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(body, `4256 <span class="tag">hpcgate</span>`) {
		t.Error("a job named like hpcgate's but not a server of the hub is marked as hpcgate's")
	}
	if strings.Contains(body, `c3</th>`) {
		t.Error("a failed job's node is listed as in use")
	}

	// The state chart: one stacked bar per partition.
	got := map[string]map[string]string{}
	part := ""
	for _, m := range reSegment.FindAllStringSubmatch(body, -1) {
		if m[1] != "" {
			part = m[1]
			got[part] = map[string]string{}
			continue
		}
		got[part][m[2]] = m[3]
	}
	wantSegs := map[string]map[string]string{
		"debug": {"running": "1", "pending": "2", "completing": "1"},
		"gpu":   {"pending": "2"},
		"long":  {"running": "2", "pending": "1", "other": "1"},
	}
	if len(got) != len(wantSegs) {
		t.Errorf("state chart bars %v, want %v", got, wantSegs)
	}
	for p, segs := range wantSegs {
		for st, n := range segs {
			if got[p][st] != n {
				t.Errorf("state chart: %s %s = %q, want %s", p, st, got[p][st], n)
			}
		}
	}
	// The wait histogram: this cluster's waits of the last day.
	var bars []string
	for _, m := range reBar.FindAllStringSubmatch(body, -1) {
		bars = append(bars, m[1])
	}
	if strings.Join(bars, " ") != "3 1 0 2 1 2" {
		t.Errorf("wait histogram bars %v, want 3 1 0 2 1 2", bars)
	}
	if want := e.clock.Now().Add(-24 * time.Hour); !since.Equal(want) {
		t.Errorf("queue waits read since %v, want %v", *since, want)
	}
	if calls.get("Queue") != 1 {
		t.Errorf("one page view asked for the queue %d times", calls.get("Queue"))
	}
}

// TestQueueViewsRunNoCommands: page views read the hub's cached snapshot,
// one Queue call each, and nothing that reaches the scheduler. That the
// snapshot itself is taken once per interval however many read it is
// gateway's TestQueueSnapshotOnePerInterval.
func TestQueueViewsRunNoCommands(t *testing.T) {
	e, calls, _ := queueEnv(t)
	carol := e.browser()
	carol.login("carol", "carol-pass")
	token := e.apiToken("carol", TokenUser, 0, time.Time{})
	for range 20 {
		if resp, _ := carol.get("/hub/admin/queue/local"); resp.StatusCode != http.StatusOK {
			t.Fatalf("queue page: %d", resp.StatusCode)
		}
		if resp, _ := carol.get("/hub/admin"); resp.StatusCode != http.StatusOK {
			t.Fatalf("admin page: %d", resp.StatusCode)
		}
		if resp, _ := e.api("GET", "/hub/api/clusters", token, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("clusters API: %d", resp.StatusCode)
		}
	}
	if n := calls.get("Queue"); n != 20 {
		t.Errorf("20 queue pages (and 20 admin pages, 20 cluster lists) called Hub.Queue %d times, want 20: only the queue page reads, and marks watched, the queue", n)
	}
	for _, m := range []string{"Spawn", "Stop"} {
		if n := calls.get(m); n != 0 {
			t.Errorf("page views called Hub.%s %d times", m, n)
		}
	}
}

func TestQueuePageStates(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		cluster string
		snap    gateway.QueueSnapshot
		err     error
		status  int
		want    []string
		wantNot []string
	}{
		{"no snapshot yet", "local", gateway.QueueSnapshot{Cluster: "local"}, nil, http.StatusOK,
			[]string{"No snapshot yet: the first is being taken now.", "No snapshot yet.</td>"}, []string{"As of"}},
		{"the last refresh failed", "local",
			gateway.QueueSnapshot{Cluster: "local", Time: now.Add(-5 * time.Minute), Jobs: testQueue(now)[:2],
				Err: "squeue: exit 1: slurm_load_jobs error: Unable to contact slurm controller (connect failure)"}, nil, http.StatusOK,
			[]string{"<strong>The last refresh failed</strong>; the jobs below are from the snapshot before",
				"Unable to contact slurm controller", ">5m 00s</span> ago", `4242 <span class="tag">hpcgate</span>`}, nil},
		{"a scheduler that cannot list its queue", "other", gateway.QueueSnapshot{Cluster: "other"}, gateway.ErrNoQueue, http.StatusOK,
			[]string{"The pbs adapter of this cluster cannot list the whole queue", `<rect class="bar" data-count="1"`}, []string{"<h2>Jobs</h2>"}},
		{"an unknown cluster", "mars", gateway.QueueSnapshot{}, nil, http.StatusNotFound,
			[]string{"There is no cluster &#34;mars&#34; here."}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _, _ := queueEnv(t)
			e.hub.QueueFn = func(string) (gateway.QueueSnapshot, error) { return tt.snap, tt.err }
			carol := e.browser()
			carol.login("carol", "carol-pass")
			resp, body := carol.get("/hub/admin/queue/" + tt.cluster)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("the page lacks %s", w)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(body, w) {
					t.Errorf("the page shows %s", w)
				}
			}
		})
	}
}

func TestQueueAPI(t *testing.T) {
	e, _, _ := queueEnv(t)
	token := e.apiToken("carol", TokenUser, 0, time.Time{})
	resp, raw := e.api("GET", "/hub/api/clusters/local/queue", token, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d %s", resp.StatusCode, raw)
	}
	var q struct {
		Cluster    string                    `json:"cluster"`
		Time       time.Time                 `json:"time"`
		AgeSeconds int64                     `json:"age_seconds"`
		Counts     map[string]map[string]int `json:"counts"`
		Nodes      []nodeUse                 `json:"nodes_in_use"`
		Hpcgate    int                       `json:"hpcgate_jobs"`
		Jobs       []struct {
			ID         string `json:"id"`
			State      string `json:"state"`
			RawState   string `json:"raw_state"`
			Reason     string `json:"reason"`
			ReasonText string `json:"reason_text"`
			Hpcgate    bool   `json:"hpcgate"`
			Waited     int64  `json:"waited_seconds"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(raw), &q); err != nil {
		t.Fatal(err)
	}
	if q.Cluster != "local" || q.AgeSeconds != 12 || len(q.Jobs) != 10 || q.Hpcgate != 2 ||
		q.Counts["long"]["running"] != 2 || q.Counts["gpu"]["pending"] != 2 || len(q.Nodes) != 2 {
		t.Errorf("queue: %s", raw)
	}
	j := q.Jobs[0]
	if j.ID != "4242" || j.State != "pending" || j.RawState != "PENDING" || j.Reason != "Resources" ||
		j.ReasonText != "waiting for free nodes" || !j.Hpcgate || j.Waited != 168 {
		t.Errorf("first job: %+v", j)
	}

	_, raw = e.api("GET", "/hub/api/clusters/local/queue?state=pending&partition=gpu", token, "")
	if err := json.Unmarshal([]byte(raw), &q); err != nil || len(q.Jobs) != 2 || q.Jobs[0].ID != "4252" {
		t.Errorf("filtered: %s", raw)
	}
	if resp, raw := e.api("GET", "/hub/api/clusters/other/queue", token, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a queue the adapter cannot list: %d %s", resp.StatusCode, raw)
	}
	if resp, _ := e.api("GET", "/hub/api/clusters/mars/queue", token, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown cluster: %d", resp.StatusCode)
	}

	resp, raw = e.api("GET", "/hub/api/clusters", token, "")
	var cls []clusterModel
	if err := json.Unmarshal([]byte(raw), &cls); err != nil || resp.StatusCode != http.StatusOK || len(cls) != 2 ||
		cls[0].Name != "local" || cls[0].Scheduler != "slurm" || cls[0].QueueURL != "/hub/api/clusters/local/queue" ||
		cls[1].Name != "other" || cls[0].PollIntervalSeconds != 30 || len(cls[0].Profiles) != 3 {
		t.Errorf("clusters: %d %s", resp.StatusCode, raw)
	}
}

func TestQueueWaitsAPI(t *testing.T) {
	e, _, since := queueEnv(t)
	now := e.clock.Now()
	token := e.apiToken("carol", TokenUser, 0, time.Time{})
	tests := []struct {
		query  string
		status int
		since  time.Time
	}{
		{"", http.StatusOK, now.Add(-24 * time.Hour)},
		{"?since=24h", http.StatusOK, now.Add(-24 * time.Hour)},
		{"?since=90m", http.StatusOK, now.Add(-90 * time.Minute)},
		{"?since=2025-02-28T00:00:00Z", http.StatusOK, time.Date(2025, 2, 28, 0, 0, 0, 0, time.UTC)},
		{"?since=-1h", http.StatusBadRequest, time.Time{}},
		{"?since=yesterday", http.StatusBadRequest, time.Time{}},
		{"?since=800h", http.StatusBadRequest, time.Time{}},
	}
	for _, tt := range tests {
		*since = time.Time{}
		resp, raw := e.api("GET", "/hub/api/clusters/local/queue-waits"+tt.query, token, "")
		if resp.StatusCode != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.query, resp.StatusCode, raw, tt.status)
			continue
		}
		if tt.status != http.StatusOK {
			continue
		}
		if !since.Equal(tt.since) {
			t.Errorf("%s: read since %v, want %v", tt.query, *since, tt.since)
		}
		var out struct {
			Waits     []waitModel   `json:"waits"`
			Histogram []bucketModel `json:"histogram"`
		}
		if err := json.Unmarshal([]byte(raw), &out); err != nil {
			t.Fatal(err)
		}
		var counts []int
		for _, b := range out.Histogram {
			counts = append(counts, b.Count)
		}
		if len(out.Waits) != 9 || !slices.Equal(counts, []int{3, 1, 0, 2, 1, 2}) || out.Histogram[5].MaxSeconds != nil ||
			out.Histogram[1].MinSeconds != 60 || *out.Histogram[1].MaxSeconds != 300 {
			t.Errorf("%s: %s", tt.query, raw)
		}
	}
}

func TestQueuePageWaits(t *testing.T) {
	tests := []struct {
		name  string
		waits []gateway.QueueWait
		err   error
		want  string
		bars  int
	}{
		{"waits", testWaits(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)), nil, "Queue wait of hpcgate jobs that started in the last 24 hours (9 jobs)", 6},
		{"no hpcgate job started", nil, nil, "No hpcgate job started on this cluster in the last 24 hours.", 0},
		{"the event log cannot be read", nil, errUnexpected, "The queue waits could not be read from the hub&#39;s database.", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _, _ := queueEnv(t)
			e.hub.QueueWaitsFn = func(context.Context, time.Time) ([]gateway.QueueWait, error) { return tt.waits, tt.err }
			carol := e.browser()
			carol.login("carol", "carol-pass")
			resp, body := carol.get("/hub/admin/queue/local")
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, tt.want) {
				t.Errorf("%d; the page lacks %q", resp.StatusCode, tt.want)
			}
			if n := len(reBar.FindAllString(body, -1)); n != tt.bars {
				t.Errorf("%d histogram bars, want %d", n, tt.bars)
			}
		})
	}
}
