package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"hpcgate/gateway"
	"hpcgate/gateway/config"
)

// hubCalls counts the fake hub's calls by method, for tests that must show
// which ones a request made.
type hubCalls struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *hubCalls) add(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[method]++
}

func (c *hubCalls) get(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[method]
}

// adminEnv is a hub whose fake knows the site's clusters, with alice,
// bob and carol (the admin) known to the store, and these servers: alice
// queued on local (job 4242), bob running on local (job 4243, node c1),
// dave failed on other.
func adminEnv(t *testing.T, opts ...envOption) (*env, *hubCalls) {
	t.Helper()
	e := newEnv(t, opts...)
	calls := &hubCalls{}
	e.hub.ClustersFn = func() []*config.Cluster {
		var out []*config.Cluster
		for i := range e.cfg.Clusters {
			out = append(out, &e.cfg.Clusters[i])
		}
		return out
	}
	now := e.clock.Now()
	bob := ready("bob", now)
	bob.JobID, bob.Submitted = "4243", bob.Started.Add(-3*time.Minute)
	dave := queued("dave", now)
	dave.Cluster, dave.Profile, dave.State, dave.JobID = "other", "small", gateway.StateFailed, "17.pbs"
	dave.Reason = "The job failed with exit code 1.\n\n+ module load python\nmodule: command not found"
	dave.Stopped = now.Add(-time.Minute)
	e.serverIs(queued("alice", now), bob, dave)
	ctx := context.Background()
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		d := directory[name]
		if _, err := e.store.UpsertUser(ctx, gateway.User{Name: name, Admin: d.admin, Groups: d.groups, LastLogin: now}); err != nil {
			t.Fatal(err)
		}
	}
	// The scheduler-facing calls must never come from a page view.
	e.hub.SpawnFn = func(context.Context, gateway.SpawnRequest) (*gateway.ServerInfo, error) {
		calls.add("Spawn")
		t.Error("unexpected Spawn")
		return nil, errUnexpected
	}
	e.hub.StopFn = func(context.Context, string, string, string) error {
		calls.add("Stop")
		t.Error("unexpected Stop")
		return errUnexpected
	}
	return e, calls
}

var reRow = regexp.MustCompile(`(?s)<tr data-user="([^"]+)".*?</tr>`)

// adminRowsOf returns the admin table's rows by user.
func adminRowsOf(body string) map[string]string {
	out := map[string]string{}
	for _, m := range reRow.FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[0]
	}
	return out
}

func TestAdminPageColumns(t *testing.T) {
	e, _ := adminEnv(t)
	now := e.clock.Now()
	carol := e.browser()
	carol.login("carol", "carol-pass")
	resp, body := carol.get("/hub/admin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /hub/admin: %d\n%s", resp.StatusCode, body)
	}
	for _, col := range []string{"User", "Cluster", "Job", "State", "Scheduler's reason", "Node", "Queued", "Running", "Walltime left", "Last activity"} {
		if !regexp.MustCompile(`<th scope="col"( class="num")?>` + col + `</th>`).MatchString(body) {
			t.Errorf("the table has no %q column", col)
		}
	}
	rows := adminRowsOf(body)
	want := map[string][]string{
		"alice": {"Loopback Slurm", ">4242<", ">Queued<", "waiting for free nodes", "(Resources)",
			`data-since="` + itoa(now.Add(-3*time.Minute).Unix()) + `">3m 00s<`, ">Cancel job<", `action="/hub/admin/users/alice/stop"`},
		"bob": {">4243<", ">Running<", ">c1<", "<td class=\"num\">3m 00s<", // queued 3m, then started an hour ago
			`data-since="` + itoa(now.Add(-time.Hour).Unix()) + `">1h 00m<`, `data-countdown="10800">3h 00m<`,
			`<time datetime="2025-03-01T11:55:00Z">`, ">Stop<"},
		"carol": {"No server", `<span class="tag">admin</span>`, `href="/hub/spawn/carol">Start…<`},
		"dave":  {"Other PBS", ">Failed<", "The job failed with exit code 1.", `href="/hub/spawn/dave">Start…<`},
	}
	for user, wants := range want {
		row, ok := rows[user]
		if !ok {
			t.Errorf("no row for %s", user)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(row, w) {
				t.Errorf("%s's row lacks %s\n%s", user, w, row)
			}
		}
	}
	if strings.Contains(rows["dave"], "module: command not found") {
		t.Error("the table shows the whole failure with the log tail, not its first line")
	}
	for _, link := range []string{`href="/hub/admin/queue/local"`, `href="/hub/admin/queue/other"`, `<a href="/hub/admin" aria-current="page">Admin</a>`} {
		if !strings.Contains(body, link) {
			t.Errorf("the page lacks %s", link)
		}
	}
	if !strings.Contains(body, `<option value="local/gpu">Loopback Slurm — GPU (only gpu-users)</option>`) {
		t.Error("the start form does not offer the gpu profile with its restriction")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestAdminFilters(t *testing.T) {
	e, _ := adminEnv(t)
	carol := e.browser()
	carol.login("carol", "carol-pass")
	token := e.apiToken("carol", TokenUser, 0, time.Time{})
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"alice", "bob", "carol", "dave"}},
		{"state=queued", []string{"alice"}},
		{"state=ready", []string{"bob"}},
		{"state=active", []string{"alice", "bob"}},
		{"state=inactive", []string{"carol", "dave"}},
		{"state=failed", []string{"dave"}},
		{"cluster=local", []string{"alice", "bob"}},
		{"cluster=other", []string{"dave"}},
		{"cluster=local&state=ready", []string{"bob"}},
		{"user=AL", []string{"alice"}},
		{"user=o", []string{"bob", "carol"}},
		{"user=zed", nil},
		{"cluster=nowhere", nil},
	}
	for _, tt := range tests {
		resp, body := carol.get("/hub/admin?" + tt.query)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("page ?%s: %d", tt.query, resp.StatusCode)
			continue
		}
		var page []string
		for u := range adminRowsOf(body) {
			page = append(page, u)
		}
		sort.Strings(page)
		if !slices.Equal(page, tt.want) {
			t.Errorf("page ?%s: rows %v, want %v", tt.query, page, tt.want)
		}

		resp, raw := e.api("GET", "/hub/api/admin/servers?"+tt.query, token, "")
		var models []adminServerModel
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(raw), &models) != nil {
			t.Errorf("API ?%s: %d %s", tt.query, resp.StatusCode, raw)
			continue
		}
		var api []string
		for _, m := range models {
			api = append(api, m.User)
		}
		if !slices.Equal(api, tt.want) {
			t.Errorf("API ?%s: rows %v, want %v", tt.query, api, tt.want)
		}
	}
	if resp, _ := carol.get("/hub/admin?state=bogus"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("page with an unknown state: %d, want 400", resp.StatusCode)
	}
	if resp, _ := e.api("GET", "/hub/api/admin/servers?state=bogus", token, ""); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("API with an unknown state: %d, want 400", resp.StatusCode)
	}
}

func TestAdminServersAPI(t *testing.T) {
	e, _ := adminEnv(t)
	token := e.apiToken("carol", TokenUser, 0, time.Time{})
	resp, raw := e.api("GET", "/hub/api/admin/servers?user=bob", token, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d %s", resp.StatusCode, raw)
	}
	var got []struct {
		User   string `json:"user"`
		Server *struct {
			JobID               string `json:"job_id"`
			State               string `json:"state"`
			Node                string `json:"node"`
			QueuedSeconds       *int64 `json:"queued_seconds"`
			RunningSeconds      *int64 `json:"running_seconds"`
			WalltimeLeftSeconds *int64 `json:"walltime_left_seconds"`
		} `json:"server"`
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Server == nil {
		t.Fatalf("got %s", raw)
	}
	s := got[0].Server
	if s.JobID != "4243" || s.State != "ready" || s.Node != "c1" || *s.QueuedSeconds != 180 || *s.RunningSeconds != 3600 || *s.WalltimeLeftSeconds != 3*3600 {
		t.Errorf("bob's server: %s", raw)
	}
	_, raw = e.api("GET", "/hub/api/admin/servers?user=carol", token, "")
	if !strings.Contains(raw, `"server":null`) {
		t.Errorf("carol, who has no server: %s", raw)
	}
}

// TestAdminForbidden: everything under /hub/admin and the admin API is
// refused to non-admins, by cookie or by token, and to an admin's server
// token; the hub is never asked to act.
func TestAdminForbidden(t *testing.T) {
	e, calls := adminEnv(t)
	e.hub.QueueFn = func(string) (gateway.QueueSnapshot, error) {
		calls.add("Queue")
		return gateway.QueueSnapshot{}, nil
	}
	alice := e.browser()
	alice.login("alice", "alice-pass")
	xsrf := alice.xsrf("/hub/home")
	aliceToken := e.apiToken("alice", TokenUser, 0, time.Time{})
	carolServer := e.serverToken("carol")

	pages := []string{"/hub/admin", "/hub/admin?state=queued", "/hub/admin/queue/local", "/hub/admin/queue/nowhere"}
	apis := []string{"/hub/api/admin/servers", "/hub/api/clusters", "/hub/api/clusters/local/queue",
		"/hub/api/clusters/local/queue-waits?since=24h"}
	posts := []string{"/hub/admin/users/bob/stop", "/hub/admin/start"}

	for _, p := range pages {
		if resp, _ := alice.get(p); resp.StatusCode != http.StatusForbidden {
			t.Errorf("alice's session GET %s: %d, want 403", p, resp.StatusCode)
		}
		if resp, _ := e.api("GET", p, aliceToken, ""); resp.StatusCode != http.StatusForbidden {
			t.Errorf("alice's token GET %s: %d, want 403", p, resp.StatusCode)
		}
	}
	for _, p := range apis {
		if resp, _ := alice.get(p); resp.StatusCode != http.StatusForbidden {
			t.Errorf("alice's session GET %s: %d, want 403", p, resp.StatusCode)
		}
		for who, tok := range map[string]string{"alice's token": aliceToken, "carol's server token": carolServer, "no token": ""} {
			resp, body := e.api("GET", p, tok, "")
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"status":403`) {
				t.Errorf("%s GET %s: %d %s, want 403 JSON", who, p, resp.StatusCode, body)
			}
		}
	}
	form := url.Values{"_xsrf": {xsrf}, "user": {"bob"}, "profile": {"local/small"}}
	for _, p := range posts {
		if resp, _ := alice.post(p, form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("alice's session POST %s: %d, want 403", p, resp.StatusCode)
		}
		resp, _ := e.browser().do("POST", p, strings.NewReader(form.Encode()), http.Header{
			"Content-Type": {"application/x-www-form-urlencoded"}, "Authorization": {"token " + aliceToken}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("alice's token POST %s: %d, want 403", p, resp.StatusCode)
		}
	}
	// Nobody at all is sent to log in, and comes back.
	resp, _ := e.browser().get("/hub/admin")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "/hub/login?next=%2Fhub%2Fadmin" {
		t.Errorf("anonymous GET /hub/admin: %d to %q", resp.StatusCode, loc)
	}
	for _, m := range []string{"Spawn", "Stop", "Queue"} {
		if n := calls.get(m); n != 0 {
			t.Errorf("refused requests called Hub.%s %d times", m, n)
		}
	}
	// The nav shows Admin to admins only.
	if _, body := alice.get("/hub/home"); strings.Contains(body, `href="/hub/admin"`) {
		t.Error("alice's nav links to the admin page")
	}
}

func TestAdminStopAndStart(t *testing.T) {
	e, _ := adminEnv(t)
	var stops []string
	var spawns []gateway.SpawnRequest
	stopErr := error(nil)
	e.hub.StopFn = func(_ context.Context, user, server, by string) error {
		stops = append(stops, user+"/"+server+" by "+by)
		return stopErr
	}
	e.hub.SpawnFn = func(_ context.Context, req gateway.SpawnRequest) (*gateway.ServerInfo, error) {
		spawns = append(spawns, req)
		info := queued(req.User, e.clock.Now())
		info.Cluster, info.Profile = req.Cluster, req.Profile
		return info, nil
	}
	carol := e.browser()
	carol.login("carol", "carol-pass")
	xsrf := carol.xsrf("/hub/admin")

	// Stop bob's running server from a filtered view: back to that view,
	// with a message shown once.
	resp, _ := carol.post("/hub/admin/users/bob/stop", url.Values{"_xsrf": {xsrf}, "back": {"state=ready&evil=1"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/hub/admin?state=ready" {
		t.Fatalf("stop bob: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !slices.Equal(stops, []string{"bob/ by carol"}) {
		t.Errorf("stops %v, want bob's by carol", stops)
	}
	_, body := carol.get("/hub/admin?state=ready")
	if !strings.Contains(body, "Stopping bob&#39;s server: job 4243 is being cancelled.") {
		t.Error("no message after stopping bob's server")
	}
	if _, body = carol.get("/hub/admin"); strings.Contains(body, "Stopping bob") {
		t.Error("the message is shown twice")
	}

	// alice's job waits in the queue: the action cancels it.
	carol.post("/hub/admin/users/alice/stop", url.Values{"_xsrf": {xsrf}})
	if _, body = carol.get("/hub/admin"); !strings.Contains(body, "Cancelling alice&#39;s queued job 4242.") {
		t.Error("no message after cancelling alice's job")
	}
	// The lifecycle's refusal is shown in its words.
	stopErr = gateway.Errorf(gateway.ECONFLICT, "alice's server is not running")
	carol.post("/hub/admin/users/alice/stop", url.Values{"_xsrf": {xsrf}})
	if _, body = carol.get("/hub/admin"); !strings.Contains(body, `<div class="alert alert-error" role="alert">alice&#39;s server is not running</div>`) {
		t.Error("the refusal is not shown")
	}

	tests := []struct {
		name, user, profile string
		want                *gateway.SpawnRequest
		message             string
	}{
		{"a profile open to the user's groups", "alice", "local/gpu",
			&gateway.SpawnRequest{User: "alice", Cluster: "local", Profile: "gpu", Groups: directory["alice"].groups, By: "carol"},
			"Starting a server for alice on Loopback Slurm (GPU)."},
		{"user names are normalised", " Bob ", "other/small",
			&gateway.SpawnRequest{User: "bob", Cluster: "other", Profile: "small", Groups: directory["bob"].groups, By: "carol"},
			"Starting a server for bob on Other PBS (small)."},
		{"a profile closed to the user's groups", "bob", "local/gpu", nil, "&#34;gpu&#34; is not a profile you may use on local"},
		{"an invalid name", "bob; rm -rf", "local/small", nil, "&#34;bob; rm -rf&#34; is not a valid user name."},
		{"someone who never logged in", "erin", "local/small", nil, "erin has never logged in to the hub"},
		{"an unknown cluster", "alice", "mars/small", nil, "&#34;mars&#34; is not a cluster here"},
	}
	for _, tt := range tests {
		spawns = nil
		resp, _ := carol.post("/hub/admin/start", url.Values{"_xsrf": {xsrf}, "user": {tt.user}, "profile": {tt.profile}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/hub/admin" {
			t.Errorf("%s: %d to %q", tt.name, resp.StatusCode, resp.Header.Get("Location"))
		}
		switch {
		case tt.want == nil && len(spawns) != 0:
			t.Errorf("%s: the hub was asked to spawn %+v", tt.name, spawns)
		case tt.want != nil && (len(spawns) != 1 || spawns[0].User != tt.want.User || spawns[0].Cluster != tt.want.Cluster ||
			spawns[0].Profile != tt.want.Profile || spawns[0].By != tt.want.By || !slices.Equal(spawns[0].Groups, tt.want.Groups) ||
			len(spawns[0].Options) != 0):
			t.Errorf("%s: spawns %+v, want %+v with default options", tt.name, spawns, *tt.want)
		}
		if _, body := carol.get("/hub/admin"); !strings.Contains(body, tt.message) {
			t.Errorf("%s: the page does not say %q", tt.name, tt.message)
		}
	}
}

func TestAdminFormsNeedXSRF(t *testing.T) {
	e, calls := adminEnv(t)
	carol := e.browser()
	carol.login("carol", "carol-pass")
	xsrf := carol.xsrf("/hub/admin")
	tests := []struct {
		name   string
		form   url.Values
		origin string
	}{
		{"no token", url.Values{"user": {"alice"}, "profile": {"local/small"}}, e.ts.URL},
		{"a wrong token", url.Values{"_xsrf": {xsrf + "x"}, "user": {"alice"}, "profile": {"local/small"}}, e.ts.URL},
		{"another site's form", url.Values{"_xsrf": {xsrf}, "user": {"alice"}, "profile": {"local/small"}}, "https://evil.example"},
	}
	for _, tt := range tests {
		for _, p := range []string{"/hub/admin/users/bob/stop", "/hub/admin/start"} {
			resp, _ := carol.do("POST", p, strings.NewReader(tt.form.Encode()), http.Header{
				"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {tt.origin}})
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: POST %s: %d, want 403", tt.name, p, resp.StatusCode)
			}
		}
	}
	if calls.get("Spawn")+calls.get("Stop") != 0 {
		t.Error("a refused form reached the hub")
	}
}
