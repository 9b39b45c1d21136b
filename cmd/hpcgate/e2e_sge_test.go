package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"hpcgate/batch/batchtest"
)

// sgeCluster is a cluster on the loopback Grid Engine
// (testdata/cluster/sge.sh), reached in certificate mode through the same
// login node, with the site names of site-configs/local-sge.yaml.
func sgeCluster(t *testing.T, c batchtest.Cluster) string {
	return fmt.Sprintf(`  - name: sge
    title: Loopback Grid Engine
    scheduler: sge
    scheduler_options:
      parallel_environment: smp
      memory_resource: h_vmem
      gpu_resource: gpu
    bin_dir: %s
    login:
      host: 127.0.0.1
      port: 2222
      known_hosts: %s
      auth: certificate
      user_ca_key: %s
      service_user: hpcgate
    poll_interval: 3s
    fast_poll_interval: 1s
    start_timeout: 2m
    app:
      command: [jupyterhub-singleuser, --ip=127.0.0.1, "--port={port}"]
    profiles:
      - name: small
        title: Small on Grid Engine
        partition: {choices: [all.q], default: all.q}
        cores: {value: 2}
        memory: {value: 2G}
        gpus: {value: 0}
        walltime: {min: 10m, max: 2h, default: 1h}
`, c.Get(t, "SGE_BIN"), c.Get(t, "SSH_KNOWN_HOSTS"), c.Get(t, "SSH_USER_CA"))
}

// TestEndToEndSGE: the flow of the Slurm and PBS tests on the real Grid
// Engine: dave spawns a notebook (two slots of the smp parallel
// environment, h_vmem, h_rt), it becomes ready through the tunnel, a kernel
// runs code, the admin's queue view and the metrics show the job, and
// stopping it deletes the job, which then has an accounting record.
func TestEndToEndSGE(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	h := startHub(t, c, writeSite(t, c, port, sgeCluster(t, c)), port)
	tok, adminTok := newToken(t, h.site, "dave"), newToken(t, h.site, "carol")
	if code, out := api(t, h.base, tok, "POST", "/hub/api/users/dave/server", map[string]string{"cluster": "sge", "profile": "small", "partition": "all.q"}); code != 202 {
		t.Fatalf("spawn on Grid Engine: %d %s", code, out)
	}
	events := follow(t, h.base, tok, "dave", 3*time.Minute, func(ev progressEvent) bool { return ev.Ready })
	jobID := events[len(events)-1].JobID
	if jobID == "" || strings.Trim(jobID, "0123456789") != "" {
		t.Errorf("job id %q is not a Grid Engine job number", jobID)
	}
	if code, out := api(t, h.base, tok, "GET", "/user/dave/api/status", nil); code != 200 {
		t.Fatalf("GET /user/dave/api/status: %d %s", code, out)
	}
	if got := runKernel(t, h.base, tok, "dave", "print(6*7)"); got != "42\n" {
		t.Fatalf("kernel printed %q, want 42", got)
	}
	qstat := exec.Command(filepath.Join(c.Get(t, "SGE_BIN"), "qstat"), "-j", jobID)
	if out, err := qstat.Output(); err != nil || !strings.Contains(string(out), "parallel environment:  smp range: 2") ||
		!strings.Contains(string(out), "h_vmem=1024M") {
		t.Errorf("qstat -j %s (%v) does not show the profile's slots and memory per slot:\n%s", jobID, err, out)
	}

	// The admin's queue view lists the job as Grid Engine does (carol's
	// rights come from LDAP when she logs in).
	newBrowser(t, h.base).login("carol", "carol-pass")
	var snap struct {
		Jobs []struct {
			ID, State, User string
			RawState        string `json:"raw_state"`
		} `json:"jobs"`
	}
	waitFor(t, 30*time.Second, "the job in the queue view", func() bool {
		code, body := api(t, h.base, adminTok, "GET", "/hub/api/clusters/sge/queue", nil)
		if code != 200 || json.Unmarshal(body, &snap) != nil {
			return false
		}
		for _, j := range snap.Jobs {
			if j.ID == jobID {
				return j.State == "running" && j.RawState == "r" && j.User == "dave"
			}
		}
		return false
	})
	// The metrics time the cluster's scheduler commands.
	_, body := api(t, h.base, adminTok, "GET", "/hub/metrics", nil)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	timed := map[string]bool{}
	if f := families["hpcgate_scheduler_command_duration_seconds"]; f != nil {
		for _, m := range f.Metric {
			labels := map[string]string{}
			for _, l := range m.Label {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["cluster"] == "sge" {
				timed[labels["command"]] = true
			}
		}
	}
	if !timed["submit"] || !timed["status"] {
		t.Errorf("scheduler commands timed for cluster sge: %v, want submit and status", timed)
	}

	if code, out := api(t, h.base, tok, "DELETE", "/hub/api/users/dave/server", nil); code != 202 && code != 204 {
		t.Fatalf("stop: %d %s", code, out)
	}
	qacct := filepath.Join(c.Get(t, "SGE_BIN"), "qacct")
	waitFor(t, 60*time.Second, "job "+jobID+" to have ended", func() bool {
		out, err := exec.Command(qacct, "-j", jobID).Output()
		return err == nil && strings.Contains(string(out), "jobnumber    "+jobID)
	})
}
