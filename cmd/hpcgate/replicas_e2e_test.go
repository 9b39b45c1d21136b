package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"hpcgate/batch/batchtest"
)

// TestTwoReplicas runs two `hpcgate serve` processes on one PostgreSQL
// behind a load balancer (the test's own), on the loopback cluster. alice
// spawns through A and follows her progress on B; A is SIGKILLed while her
// job waits in the queue, and B takes over the polling within one
// interval; she uses her notebook through B; A comes back as a follower; a
// logout on B ends her session on A at once; B, now the leader, is
// SIGKILLed while she uses the notebook, and A takes over. Nothing is
// lost, the job is submitted once, the server is never falsely stopped.
// It logs the failover times and the requests that failed while a replica
// died (a client hammering both through the balancer).
func TestTwoReplicas(t *testing.T) {
	c := batchtest.LoadCluster(t)
	dbURL, db := freshDatabase(t, c.Get(t, "POSTGRES_URL"))
	lbPort, portA, portB := freePort(t), freePort(t), freePort(t)
	lb := startBalancer(t, lbPort, portA, portB)
	siteA, siteB := replicaSites(t, c, dbURL, lbPort, portA, portB)
	const pollInterval = 3 * time.Second // the site's poll_interval

	a := startHub(t, c, siteA, portA)
	b := startHub(t, c, siteB, portB)
	if got := leads(t, a.base); !slices.Contains(got.Clusters, "local") || len(got.Cron) == 0 {
		t.Fatalf("A, started first, leads %+v; want cluster local and the cron jobs", got)
	}
	if got := leads(t, b.base); len(got.Clusters) != 0 || len(got.Cron) != 0 {
		t.Fatalf("B leads %+v while A is alive; want nothing", got)
	}
	token := newToken(t, siteA, "alice")
	t.Cleanup(func() { stopAndWait(t, c, lb.url, token, db) })

	// alice spawns through A; the job waits in the queue (BeginTime).
	if code, out := api(t, a.base, token, "POST", "/hub/api/users/alice/server", map[string]string{"profile": "later"}); code != 202 {
		t.Fatalf("spawn through A: %d %s", code, out)
	}
	queued := follow(t, b.base, token, "alice", time.Minute, func(ev progressEvent) bool {
		return ev.State == "queued" && ev.JobID != ""
	})
	jobID := queued[len(queued)-1].JobID
	// What A's poller sees, B's stream shows: a hold and a release.
	scontrol(t, c, "hold", jobID)
	follow(t, b.base, token, "alice", 20*time.Second, func(ev progressEvent) bool { return strings.HasPrefix(ev.Reason, "JobHeld") })
	scontrol(t, c, "release", jobID)
	follow(t, b.base, token, "alice", 20*time.Second, func(ev progressEvent) bool { return ev.Reason == "BeginTime" })

	// A dies mid-spawn: the job is submitted, not running.
	ham := startHammer(lb.url, token, "/hub/api/user")
	time.Sleep(time.Second)
	killedA := time.Now()
	a.stop(syscall.SIGKILL)
	failover1 := awaitPolling(t, b.base, "local", killedA, pollInterval+2*time.Second)
	time.Sleep(time.Second)
	sent1, failed1 := ham.stop()
	if failover1 > pollInterval+time.Second {
		t.Errorf("B took over the polling %s after A died; want within one poll interval (%s)", failover1, pollInterval)
	}

	// B follows the job to ready; alice uses her notebook through B.
	scontrol(t, c, "update", "jobid="+jobID, "StartTime=now")
	ready := follow(t, b.base, token, "alice", 3*time.Minute, func(ev progressEvent) bool { return ev.Ready })
	if got := ready[len(ready)-1].JobID; got != jobID {
		t.Fatalf("the ready server runs job %s, want %s (the one A submitted)", got, jobID)
	}
	if code, out := api(t, b.base, token, "GET", "/user/alice/api/status", nil); code != 200 {
		t.Fatalf("notebook through B: %d %s", code, out)
	}
	if got := runKernel(t, b.base, token, "alice", "print(6*7)"); got != "42\n" {
		t.Fatalf("kernel through B printed %q, want 42", got)
	}

	// A comes back, as a follower, and serves the notebook too (its route
	// is loaded from the database on first use).
	a.start()
	if got := leads(t, a.base); len(got.Clusters) != 0 {
		t.Errorf("A, restarted while B leads, leads %+v", got)
	}
	if code, out := api(t, a.base, token, "GET", "/user/alice/api/status", nil); code != 200 {
		t.Fatalf("notebook through restarted A: %d %s", code, out)
	}

	// A logout on B ends the session on A at once.
	br := newBrowser(t, lb.url)
	br.login("alice", "alice-pass")
	for _, base := range []string{a.base, b.base} {
		if code := pageCode(t, br, base+"/hub/home"); code != 200 {
			t.Fatalf("alice's session on %s/hub/home: %d, want 200", base, code)
		}
	}
	br.base = b.base
	if code, _, hdr := br.postForm("/hub/home", "/hub/logout", url.Values{}); code != http.StatusFound && code != http.StatusSeeOther {
		t.Fatalf("logout on B: %d %s", code, hdr.Get("Location"))
	}
	loggedOut := time.Now()
	for pageCode(t, br, a.base+"/hub/home") == 200 {
		if time.Since(loggedOut) > time.Second {
			t.Fatal("a second after the logout on B, A still lets the session in")
		}
		time.Sleep(20 * time.Millisecond)
	}
	logoutSeen := time.Since(loggedOut)

	// B, the leader now, dies while alice uses the notebook.
	ham = startHammer(lb.url, token, "/user/alice/api/status")
	time.Sleep(time.Second)
	killedB := time.Now()
	b.stop(syscall.SIGKILL)
	failover2 := awaitPolling(t, a.base, "local", killedB, pollInterval+2*time.Second)
	if failover2 > pollInterval+time.Second {
		t.Errorf("A took over the polling %s after B died; want within one poll interval (%s)", failover2, pollInterval)
	}
	// Two more polls by A: the server is still ready, the same job.
	polled := leads(t, a.base).Polled["local"]
	waitFor(t, 3*pollInterval, "two polls by A", func() bool {
		return leads(t, a.base).Polled["local"].After(polled.Add(pollInterval))
	})
	sent2, failed2 := ham.stop()
	if got := runKernel(t, a.base, token, "alice", "print(6*7)"); got != "42\n" {
		t.Fatalf("kernel through A after B died printed %q, want 42", got)
	}
	var state, recorded string
	if err := db.QueryRow("SELECT state, job_id FROM servers WHERE username = 'alice'").Scan(&state, &recorded); err != nil {
		t.Fatal(err)
	}
	if state != "ready" || recorded != jobID {
		t.Errorf("after both deaths alice's server is %s with job %q; want ready with job %s", state, recorded, jobID)
	}

	// One job, submitted once.
	var jobName string
	var submits int
	if err := db.QueryRow("SELECT job_name FROM servers WHERE username = 'alice'").Scan(&jobName); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT count(*) FROM events WHERE username = 'alice' AND kind = 'submitted'").Scan(&submits); err != nil {
		t.Fatal(err)
	}
	if jobs := squeueByName(t, c, jobName); len(jobs) != 1 || jobs[0] != jobID || submits != 1 {
		t.Errorf("jobs named %s: %v, submissions recorded: %d; want only %s, submitted once", jobName, jobs, submits, jobID)
	}

	t.Logf("failover, leader death → polling resumed: A→B %s, B→A %s (poll_interval %s)",
		failover1.Round(time.Millisecond), failover2.Round(time.Millisecond), pollInterval)
	t.Logf("requests failed while a replica died (4 clients through the balancer): A mid-spawn %d of %d (/hub/api/user), B mid-session %d of %d (/user/alice/api/status)",
		len(failed1), sent1, len(failed2), sent2)
	t.Logf("logout on B → session refused on A: %s", logoutSeen.Round(time.Millisecond))
	checkFailures(t, "A's death", killedA, failed1)
	checkFailures(t, "B's death", killedB, failed2)
}

// TestSecondHubOnSQLiteRefused: a SQLite database has one hub; a second
// `serve` on the same file says which file and who holds it.
func TestSecondHubOnSQLiteRefused(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	h := startHub(t, c, siteFor(t, c, port), port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "serve", "-f", h.site).CombinedOutput()
	if err == nil {
		t.Fatalf("a second serve on the same SQLite file ran:\n%s", out)
	}
	want := fmt.Sprintf("is locked by hpcgate serve (pid %d on host ", h.cmd.Process.Pid)
	if !strings.Contains(string(out), want) || !strings.Contains(string(out), "hpcgate.sqlite") {
		t.Errorf("refusal does not name the file and the holder (%q):\n%s", want, out)
	}
}

// freshDatabase creates a database of its own on the private PostgreSQL,
// dropped at the end.
func freshDatabase(t *testing.T, base string) (string, *sql.DB) {
	t.Helper()
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	rand.Read(b)
	name := "hpcgate_e2e_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database on %s: %v", base, err)
	}
	u, _ := url.Parse(base)
	u.Path = "/" + name
	db, err := sql.Open("postgres", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		admin, err := sql.Open("postgres", base)
		if err != nil {
			return
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return u.String(), db
}

// replicaSites are the two replicas' site files: the same file but for
// the address each listens on, with the balancer as the public URL.
func replicaSites(t *testing.T, c batchtest.Cluster, dbURL string, lbPort, portA, portB int) (string, string) {
	t.Helper()
	siteA := siteFor(t, c, portA)
	raw, err := os.ReadFile(siteA)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(raw), fmt.Sprintf("public_url: http://127.0.0.1:%d", portA), fmt.Sprintf("public_url: http://127.0.0.1:%d", lbPort), 1)
	s = strings.Replace(s, "  log_level: debug\n", "  log_level: debug\n  database_url: "+dbURL+"\n", 1)
	if err := os.WriteFile(siteA, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	siteB := strings.TrimSuffix(siteA, ".yaml") + "-b.yaml"
	s = strings.Replace(s, fmt.Sprintf("listen: 127.0.0.1:%d", portA), fmt.Sprintf("listen: 127.0.0.1:%d", portB), 1)
	if err := os.WriteFile(siteB, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return siteA, siteB
}

// balancer is a load balancer in front of the replicas, as a site would
// run one: each request goes to the next replica in turn, and to the
// other when a connection to it is refused. Requests in flight to a
// replica that dies fail, as they would behind a real one.
type balancer struct{ url string }

func startBalancer(t *testing.T, port int, backends ...int) *balancer {
	t.Helper()
	var next atomic.Uint64
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		n := next.Add(1)
		var err error
		for i := range backends {
			var conn net.Conn
			addr := fmt.Sprintf("127.0.0.1:%d", backends[(int(n)+i)%len(backends)])
			if conn, err = (&net.Dialer{Timeout: time.Second}).DialContext(ctx, network, addr); err == nil {
				return conn, nil
			}
		}
		return nil, err
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "http", Host: "replica"})
			pr.Out.Host = pr.In.Host
		},
		Transport:     &http.Transport{DialContext: dial, DisableKeepAlives: true},
		FlushInterval: -1,
		ErrorLog:      nil,
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &balancer{url: fmt.Sprintf("http://127.0.0.1:%d", port)}
}

// hammer is four clients sending requests through the balancer as fast as
// they are answered; it keeps when and how each failure happened.
type hammer struct {
	done chan struct{}
	wg   sync.WaitGroup
	sent atomic.Int64

	mu       sync.Mutex
	failures []failure
}

type failure struct {
	at  time.Time
	why string
}

func startHammer(base, token, path string) *hammer {
	h := &hammer{done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	for range 4 {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			for {
				select {
				case <-h.done:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, base+path, nil)
				req.Header.Set("Authorization", "token "+token)
				h.sent.Add(1)
				resp, err := client.Do(req)
				var why string
				if err != nil {
					why = err.Error()
				} else {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						why = resp.Status
					}
				}
				if why != "" {
					h.mu.Lock()
					h.failures = append(h.failures, failure{time.Now(), why})
					h.mu.Unlock()
				}
			}
		}()
	}
	return h
}

// stop ends the clients and returns how many requests were sent and
// which failed.
func (h *hammer) stop() (int64, []failure) {
	close(h.done)
	h.wg.Wait()
	return h.sent.Load(), h.failures
}

// checkFailures: only requests in flight to the replica that died may
// fail — those the balancer had sent it, or that waited in its accept
// queue, when it was killed — so every failure comes within moments of
// the kill, none later, when the balancer sends everything to the other.
func checkFailures(t *testing.T, who string, killed time.Time, fs []failure) {
	t.Helper()
	for _, f := range fs {
		if d := f.at.Sub(killed); d < 0 || d > 500*time.Millisecond {
			t.Errorf("%s: a request failed %s after the kill, not in flight then: %s", who, d.Round(time.Millisecond), f.why)
		}
	}
	for i, f := range fs {
		if i == 3 {
			break
		}
		t.Logf("%s: failed %s after the kill: %s", who, f.at.Sub(killed).Round(time.Millisecond), f.why)
	}
}

// replicaHealth is the replica part of /hub/health.
type replicaHealth struct {
	ID       string               `json:"id"`
	Clusters []string             `json:"clusters"`
	Cron     []string             `json:"cron"`
	Polled   map[string]time.Time `json:"polled"`
}

func leads(t *testing.T, base string) replicaHealth {
	t.Helper()
	resp, err := http.Get(base + "/hub/health")
	if err != nil {
		t.Fatalf("health of %s: %v", base, err)
	}
	defer resp.Body.Close()
	var h struct {
		DB      string        `json:"db"`
		Replica replicaHealth `json:"replica"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || h.DB != "ok" || h.Replica.ID == "" {
		t.Fatalf("health of %s: %d %+v %v", base, resp.StatusCode, h, err)
	}
	return h.Replica
}

// awaitPolling waits until the replica at base polls cluster after since,
// and returns how long after since it did.
func awaitPolling(t *testing.T, base, cluster string, since time.Time, limit time.Duration) time.Duration {
	t.Helper()
	for time.Since(since) < limit {
		if p := leads(t, base).Polled[cluster]; p.After(since) {
			return p.Sub(since)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not poll %s within %s of the leader's death", base, cluster, limit)
	return 0
}

// pageCode is the status of a GET with the browser's cookies, at any URL.
func pageCode(t *testing.T, b *browser, u string) int {
	t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// squeueByName lists the ids of the jobs named name, in any state.
func squeueByName(t *testing.T, c batchtest.Cluster, name string) []string {
	t.Helper()
	cmd := exec.Command("squeue", "-h", "-t", "all", "-n", name, "-o", "%i")
	cmd.Env = append(cmd.Environ(), "SLURM_CONF="+c.Get(t, "SLURM_CONF"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("squeue -n %s: %v", name, err)
	}
	return strings.Fields(string(out))
}

// stopAndWait stops alice's server through whichever replica lives and
// waits for the job to leave the queue, so that no test leaves jobs
// behind.
func stopAndWait(t *testing.T, c batchtest.Cluster, base, token string, db *sql.DB) {
	var jobID string
	db.QueryRow("SELECT job_id FROM servers WHERE username = 'alice'").Scan(&jobID)
	req, _ := http.NewRequest(http.MethodDelete, base+"/hub/api/users/alice/server", nil)
	req.Header.Set("Authorization", "token "+token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	if jobID == "" {
		return
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if s := squeue(t, c, jobID); s == "" || s == "CANCELLED" || s == "COMPLETED" {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	cmd := exec.Command("scancel", jobID) // last resort: no replica could
	cmd.Env = append(cmd.Environ(), "SLURM_CONF="+c.Get(t, "SLURM_CONF"))
	cmd.Run()
}
