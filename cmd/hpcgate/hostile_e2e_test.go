package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"hpcgate/batch/batchtest"
)

// TestHostileJobNameOnCluster: bob holds a job named with U+001E, U+001F,
// newlines, a tab, quotes and 300 bytes, and another whose name holds fake
// squeue records claiming alice's job was cancelled; alice spawns, her
// server becomes ready and stays ready over several polls, and the admin's
// queue view (API and page) lists bob's jobs with their names intact.
func TestHostileJobNameOnCluster(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	h := startHub(t, c, siteFor(t, c, port), port)
	aliceTok, carolTok := newToken(t, h.site, "alice"), newToken(t, h.site, "carol")
	t.Cleanup(func() { api(t, h.base, aliceTok, "DELETE", "/hub/api/users/alice/server", nil) })
	// carol's admin rights come from LDAP at her login.
	carol := newBrowser(t, h.base)
	carol.login("carol", "carol-pass")

	const us, rs = "\x1f", "\x1e"
	name := "hpcgate-hostile" + rs + us + "\n\t\"'<b>&\n" + strings.Repeat("A", 300)
	bobJob := sbatchAs(t, c, "bob", name)

	if code, out := api(t, h.base, aliceTok, "POST", "/hub/api/users/alice/server", map[string]string{"profile": "small"}); code != 202 && code != 201 {
		t.Fatalf("spawn alice: %d %s", code, out)
	}
	queued := follow(t, h.base, aliceTok, "alice", time.Minute, func(ev progressEvent) bool { return ev.JobID != "" })
	aliceJob := queued[len(queued)-1].JobID
	// Fake records for alice's job, in the layout squeue output had before
	// (fields ended by U+001F, records by U+001E) and in the current one
	// with a guessed nonce: each claims her job was cancelled.
	fake := aliceJob + us + "alice" + us + "CANCELLED" + us + "debug" + us + "n/a" + us + "0" +
		strings.Repeat(us+"2024-01-01T00:00:00", 3) + us + "1:00:00" + us + "1"
	forger := sbatchAs(t, c, "bob", "x"+rs+"\n"+fake+us+"0123456789abcdefhpcgate"+rs+"0123456789abcdef\n"+
		aliceJob+us+"hpcgate"+us+"alice"+us+"CANCELLED"+us+"None"+rs+"\n")

	follow(t, h.base, aliceTok, "alice", 3*time.Minute, func(ev progressEvent) bool { return ev.Ready })
	// Ready, and still ready after several polls of the cluster, each of
	// which saw the hostile jobs in the queue view.
	before := statusPolls(t, h.base, carolTok)
	waitFor(t, 60*time.Second, "three more polls", func() bool {
		if st := serverState(t, h.base, aliceTok, "alice"); st != "ready" {
			t.Fatalf("alice's server is %q with bob's hostile jobs in the queue, want ready", st)
		}
		return statusPolls(t, h.base, carolTok) >= before+3
	})
	if code, out := api(t, h.base, aliceTok, "GET", "/user/alice/api/status", nil); code != 200 {
		t.Fatalf("GET /user/alice/api/status: %d %s", code, out)
	}
	if got := squeue(t, c, aliceJob); got != "RUNNING" {
		t.Errorf("squeue says alice's job %s is %q, want RUNNING", aliceJob, got)
	}

	// carol's queue view lists bob's jobs, names byte for byte.
	var snap struct {
		Jobs []struct {
			ID, Name, User, State string
		} `json:"jobs"`
	}
	waitFor(t, 30*time.Second, "bob's jobs in the queue API", func() bool {
		code, body := api(t, h.base, carolTok, "GET", "/hub/api/clusters/local/queue", nil)
		if code != 200 {
			t.Fatalf("queue API: %d %s", code, body)
		}
		if err := json.Unmarshal(body, &snap); err != nil {
			t.Fatalf("queue JSON: %v\n%.500s", err, body)
		}
		return strings.Contains(string(body), `"`+bobJob+`"`) && strings.Contains(string(body), `"`+forger+`"`)
	})
	for _, j := range snap.Jobs {
		switch j.ID {
		case bobJob:
			if j.Name != name || j.User != "bob" || j.State != "pending" {
				t.Errorf("bob's job in the queue API: %q of %s, %s; want his name, pending", j.Name, j.User, j.State)
			}
		case aliceJob:
			if j.User != "alice" || j.State != "running" {
				t.Errorf("alice's job in the queue API: %+v, want running", j)
			}
		}
	}
	code, page, _ := carol.get("/hub/admin/queue/local")
	if code != 200 || !strings.Contains(page, bobJob) || !strings.Contains(page, strings.Repeat("A", 300)) {
		t.Errorf("carol's queue page: %d, lists bob's job %s: %v", code, bobJob, strings.Contains(page, bobJob))
	}
}

// sbatchAs holds a job as user with this name, cancelled when the test ends.
func sbatchAs(t *testing.T, c batchtest.Cluster, user, name string) string {
	t.Helper()
	cmd := exec.Command("runuser", "-u", user, "--", "env", "SLURM_CONF="+c.Get(t, "SLURM_CONF"),
		"sbatch", "--parsable", "--hold", "--output=/dev/null", "--job-name="+name, "--wrap=true")
	cmd.Dir = "/"
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sbatch as %s: %v", user, err)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { signalJob(t, c, user, id, "") })
	return id
}

// signalJob runs scancel as user: the job is cancelled (sig "") or sent sig.
func signalJob(t *testing.T, c batchtest.Cluster, user, id, sig string) {
	t.Helper()
	args := []string{"-u", user, "--", "env", "SLURM_CONF=" + c.Get(t, "SLURM_CONF"), "scancel"}
	if sig != "" {
		args = append(args, "--signal="+sig)
	}
	cmd := exec.Command("runuser", append(args, id)...)
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("scancel %s as %s (%q): %v %s", id, user, sig, err, out)
	}
}

// serverState is the state of user's default server in the REST API
// (hpcgate's fields of the server model).
func serverState(t *testing.T, base, token, user string) string {
	m := serverModel(t, base, token, user)
	return m.State
}

type apiServer struct {
	State, Reason string
	JobID         string `json:"job_id"`
}

func serverModel(t *testing.T, base, token, user string) apiServer {
	t.Helper()
	// Stopped and failed servers are listed only on request, as in
	// JupyterHub.
	code, body := api(t, base, token, "GET", "/hub/api/users/"+user+"?include_stopped_servers", nil)
	if code != 200 {
		t.Fatalf("GET /hub/api/users/%s: %d %s", user, code, body)
	}
	var u struct {
		Servers map[string]struct {
			HPCGate apiServer `json:"hpcgate"`
		} `json:"servers"`
	}
	if err := json.Unmarshal(body, &u); err != nil {
		t.Fatalf("user model: %v\n%s", err, body)
	}
	return u.Servers[""].HPCGate
}

// statusPolls is how many status queries the hub has run on cluster local.
func statusPolls(t *testing.T, base, adminToken string) uint64 {
	t.Helper()
	code, body := api(t, base, adminToken, "GET", "/hub/metrics", nil)
	if code != 200 {
		t.Fatalf("GET /hub/metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	var n uint64
	if f := families["hpcgate_scheduler_command_duration_seconds"]; f != nil {
		for _, m := range f.Metric {
			labels := map[string]string{}
			for _, l := range m.Label {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["cluster"] == "local" && labels["command"] == "status" {
				n += m.Histogram.GetSampleCount()
			}
		}
	}
	return n
}
