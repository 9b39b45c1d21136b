package web

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"hpcgate/gateway"
)

var reServerRow = regexp.MustCompile(`(?s)<tr data-user="([^"]+)" data-server="([^"]*)".*?</tr>`)

// adminServerRowsOf returns the admin table's rows of servers by
// "user/server".
func adminServerRowsOf(body string) map[string]string {
	out := map[string]string{}
	for _, m := range reServerRow.FindAllStringSubmatch(body, -1) {
		out[m[1]+"/"+m[2]] = m[0]
	}
	return out
}

// TestAdminNamedServers: every server of every user has its own row with
// its name, cluster, job, state, reason and node, and its own stop form,
// which stops that server and no other; the admin API lists it by name.
func TestAdminNamedServers(t *testing.T) {
	e, _ := adminEnv(t, withNamedServers(0))
	now := e.clock.Now()
	bob := ready("bob", now)
	bob.JobID = "4243"
	gpu := named(queued("bob", now), "gpu")
	gpu.JobID, gpu.Profile = "4250", "gpu"
	old := named(queued("bob", now), "old")
	old.State, old.JobID, old.Reason = gateway.StateStopped, "4100", ""
	e.serverIs(bob, gpu, old)
	var stops []string
	e.hub.StopFn = func(_ context.Context, user, server, by string) error {
		stops = append(stops, user+"/"+server+" by "+by)
		return nil
	}
	carol := e.browser()
	carol.login("carol", "carol-pass")
	_, body := carol.get("/hub/admin")
	rows := adminServerRowsOf(body)
	want := map[string][]string{
		"bob/": {">4243<", ">Running<", ">c1<", `action="/hub/admin/users/bob/stop"`, ">Stop<"},
		"bob/gpu": {`<span class="muted">/gpu</span>`, "Loopback Slurm", ">4250<", ">Queued<", "(Resources)",
			`action="/hub/admin/users/bob/servers/gpu/stop"`, `data-confirm="Cancel job for bob/gpu (job 4250)?"`, ">Cancel job<"},
		"bob/old": {`<span class="muted">/old</span>`, ">4100<", ">Stopped<", `href="/hub/spawn/bob/old">Start…<`},
	}
	for key, wants := range want {
		row, ok := rows[key]
		if !ok {
			t.Errorf("no row for %s (rows %v)", key, slices.Sorted(maps.Keys(rows)))
			continue
		}
		for _, w := range wants {
			if !strings.Contains(row, w) {
				t.Errorf("%s's row lacks %s\n%s", key, w, row)
			}
		}
	}
	if strings.Contains(rows["bob/gpu"], `name="server"`) {
		t.Error("the stop form still names its server in a form field")
	}

	xsrf := carol.xsrf("/hub/admin")
	resp, _ := carol.post("/hub/admin/users/bob/servers/gpu/stop", url.Values{"_xsrf": {xsrf}, "back": {"user=bob"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/hub/admin?user=bob" {
		t.Fatalf("stop bob/gpu: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, body = carol.get("/hub/admin"); !strings.Contains(body, "Cancelling bob&#39;s queued job 4250 (server gpu).") {
		t.Error("no message after cancelling bob's gpu job")
	}
	// The old form field naming a server is not obeyed: this route is
	// the default server's.
	carol.post("/hub/admin/users/bob/stop", url.Values{"_xsrf": {xsrf}, "server": {"gpu"}})
	if _, body = carol.get("/hub/admin"); !strings.Contains(body, "Stopping bob&#39;s server: job 4243 is being cancelled.") {
		t.Error("no message after stopping bob's default server")
	}
	// A name that cannot be a server's reaches no lookup, and one bob has
	// not is the hub's not-found.
	carol.post("/hub/admin/users/bob/servers/"+url.PathEscape(".hidden")+"/stop", url.Values{"_xsrf": {xsrf}})
	if _, body = carol.get("/hub/admin"); !strings.Contains(body, "alert-error") || !strings.Contains(body, "may hold only letters") {
		t.Error("a bad server name is not refused in words")
	}
	carol.post("/hub/admin/users/bob/servers/cpu/stop", url.Values{"_xsrf": {xsrf}})
	if _, body = carol.get("/hub/admin"); !strings.Contains(body, "alert-error") {
		t.Error("stopping an unknown server is not an error")
	}
	if !slices.Equal(stops, []string{"bob/gpu by carol", "bob/ by carol"}) {
		t.Errorf("stops %v", stops)
	}

	token := e.apiToken("carol", TokenUser, 0, time.Time{})
	resp, raw := e.api("GET", "/hub/api/admin/servers?user=bob", token, "")
	var models []adminServerModel
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(raw), &models) != nil {
		t.Fatalf("API: %d %s", resp.StatusCode, raw)
	}
	var got []string
	for _, m := range models {
		if m.Server == nil {
			t.Fatalf("a row of bob without a server: %s", raw)
		}
		got = append(got, m.User+"/"+m.Server.Name+" "+m.Server.JobID+" "+m.Server.State+" "+m.Server.URL)
	}
	if w := []string{"bob/ 4243 ready /user/bob/", "bob/gpu 4250 queued /user/bob/gpu/", "bob/old 4100 stopped /user/bob/old/"}; !slices.Equal(got, w) {
		t.Errorf("API rows %q, want %q", got, w)
	}
}
