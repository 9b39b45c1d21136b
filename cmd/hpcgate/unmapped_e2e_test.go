package main

import (
	"strings"
	"testing"
	"time"

	"hpcgate/batch/batchtest"
)

// TestUnmappedStateOnCluster: a job in a state hpcgate does not map stays
// as it is. Slurm 22.05 maps every state word it can print, but hpcgate
// deliberately leaves two unmapped: SUSPENDED and STOPPED (started, then
// paused; neither queued nor ended). alice stops her own running job with
// scancel --signal=STOP (Slurm reports STOPPED); her server stays ready
// over several polls with its route, the word is shown to her, and once
// she sends CONT the notebook answers again through the same route, with
// no new job.
func TestUnmappedStateOnCluster(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	h := startHub(t, c, siteFor(t, c, port), port)
	aliceTok, carolTok := newToken(t, h.site, "alice"), newToken(t, h.site, "carol")
	t.Cleanup(func() { api(t, h.base, aliceTok, "DELETE", "/hub/api/users/alice/server", nil) })
	carol := newBrowser(t, h.base)
	carol.login("carol", "carol-pass") // admin rights (for /hub/metrics) come at login

	if code, out := api(t, h.base, aliceTok, "POST", "/hub/api/users/alice/server", map[string]string{"profile": "small"}); code != 202 && code != 201 {
		t.Fatalf("spawn alice: %d %s", code, out)
	}
	ready := follow(t, h.base, aliceTok, "alice", 3*time.Minute, func(ev progressEvent) bool { return ev.Ready })
	job := ready[len(ready)-1].JobID
	t.Cleanup(func() { signalJob(t, c, "alice", job, "CONT") })

	signalJob(t, c, "alice", job, "STOP")
	waitFor(t, 20*time.Second, "Slurm to report STOPPED", func() bool { return squeue(t, c, job) == "STOPPED" })
	waitFor(t, 30*time.Second, "the hub to show STOPPED", func() bool {
		return strings.Contains(serverModel(t, h.base, aliceTok, "alice").Reason, "STOPPED")
	})
	before := statusPolls(t, h.base, carolTok)
	waitFor(t, 60*time.Second, "three more polls", func() bool {
		m := serverModel(t, h.base, aliceTok, "alice")
		if m.State != "ready" || m.JobID != job || !strings.Contains(m.Reason, "STOPPED") {
			t.Fatalf("while job %s is STOPPED the server is %+v, want ready with the word shown", job, m)
		}
		return statusPolls(t, h.base, carolTok) >= before+3
	})
	alice := newBrowser(t, h.base)
	alice.login("alice", "alice-pass")
	if code, page, _ := alice.get("/hub/home"); code != 200 || !strings.Contains(page, "STOPPED") {
		t.Errorf("alice's home page: %d, shows STOPPED: %v", code, strings.Contains(page, "STOPPED"))
	}

	signalJob(t, c, "alice", job, "CONT")
	waitFor(t, 20*time.Second, "Slurm to report RUNNING", func() bool { return squeue(t, c, job) == "RUNNING" })
	waitFor(t, 30*time.Second, "the hub to clear the word", func() bool {
		return !strings.Contains(serverModel(t, h.base, aliceTok, "alice").Reason, "STOPPED")
	})
	if code, out := api(t, h.base, aliceTok, "GET", "/user/alice/api/status", nil); code != 200 {
		t.Fatalf("after CONT, GET /user/alice/api/status: %d %s", code, out)
	}
	if m := serverModel(t, h.base, aliceTok, "alice"); m.State != "ready" || m.JobID != job {
		t.Errorf("after CONT the server is %+v, want ready on job %s", m, job)
	}
}
