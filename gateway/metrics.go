package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the hub's Prometheus metrics. A nil *Metrics records nothing,
// so tests need not build one.
type Metrics struct {
	Registry *prometheus.Registry

	spawns      *prometheus.CounterVec
	ends        *prometheus.CounterVec
	queueWait   *prometheus.HistogramVec
	toReady     *prometheus.HistogramVec
	servers     *prometheus.GaugeVec
	cmdDuration *prometheus.HistogramVec
	cmdErrors   *prometheus.CounterVec
	logins      *prometheus.CounterVec
	refreshes   *prometheus.CounterVec
	revocations *prometheus.CounterVec
	refused     *prometheus.CounterVec
}

// Limits a request can be refused by, the label values of
// hpcgate_requests_refused_total.
var refusalLimits = []string{"username", "max_body_bytes", "streams_per_user", "websockets_per_user"}

// NewMetrics registers the hub's metrics (and the Go runtime's) in a new
// registry.
func NewMetrics() *Metrics {
	waits := []float64{5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		spawns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpcgate_spawns_total", Help: "Spawn outcomes: ready, submit_failed, job_failed, queue-timeout, start-timeout, bad_address.",
		}, []string{"cluster", "outcome"}),
		ends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpcgate_servers_ended_total", Help: "Servers that ended, by what ended them (user, walltime, exit, scheduler, cull, ...).",
		}, []string{"cluster", "ended_by"}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hpcgate_spawn_queue_wait_seconds", Help: "Time from submission to the job running.", Buckets: waits,
		}, []string{"cluster"}),
		toReady: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hpcgate_spawn_ready_seconds", Help: "Time from submission to the server answering through the tunnel.", Buckets: waits,
		}, []string{"cluster"}),
		servers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hpcgate_servers", Help: "Active servers by state, as of the cluster's last poll.",
		}, []string{"cluster", "state"}),
		cmdDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hpcgate_scheduler_command_duration_seconds", Help: "Latency of scheduler commands over SSH.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"cluster", "command"}),
		cmdErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpcgate_scheduler_command_errors_total", Help: "Scheduler commands that failed.",
		}, []string{"cluster", "command"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpcgate_logins_total", Help: "LDAP logins by outcome: ok, invalid, not_allowed, unavailable, rate_limited.",
		}, []string{"outcome"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpcgate_ldap_refreshes_total", Help: "Refreshes of users' rights from the directory: ok, unavailable (nothing changed).",
		}, []string{"outcome"}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpcgate_access_revoked_total", Help: "Users whose access the directory refresh ended (not_found, not_allowed, system_account) or whose admin rights it removed (demoted).",
		}, []string{"reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hpcgate_requests_refused_total", Help: "Requests refused by a limit: username (not a valid login name), max_body_bytes, streams_per_user, websockets_per_user.",
		}, []string{"limit"}),
	}
	// Known label values start at zero, so dashboards and rate() see
	// the series before the first event.
	for _, o := range []string{"ok", "invalid", "not_allowed", "unavailable", "rate_limited"} {
		m.logins.WithLabelValues(o)
	}
	for _, o := range []string{"ok", "unavailable"} {
		m.refreshes.WithLabelValues(o)
	}
	for _, r := range []string{"not_found", "not_allowed", "system_account", "demoted"} {
		m.revocations.WithLabelValues(r)
	}
	for _, l := range refusalLimits {
		m.refused.WithLabelValues(l)
	}
	m.Registry.MustRegister(m.spawns, m.ends, m.queueWait, m.toReady, m.servers, m.cmdDuration, m.cmdErrors, m.logins,
		m.refreshes, m.revocations, m.refused,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// cluster starts a cluster's spawn outcomes at zero.
func (m *Metrics) cluster(name string) {
	if m == nil {
		return
	}
	for _, o := range []string{"ready", "submit_failed", "job_failed", "queue-timeout", "start-timeout", "bad_address"} {
		m.spawns.WithLabelValues(name, o)
	}
}

func (m *Metrics) spawn(cluster, outcome string) {
	if m != nil {
		m.spawns.WithLabelValues(cluster, outcome).Inc()
	}
}

func (m *Metrics) ended(cluster, by string) {
	if m != nil {
		m.ends.WithLabelValues(cluster, by).Inc()
	}
}

func (m *Metrics) queued(cluster string, d time.Duration) {
	if m != nil {
		m.queueWait.WithLabelValues(cluster).Observe(d.Seconds())
	}
}

func (m *Metrics) toReadyObs(cluster string, d time.Duration) {
	if m != nil {
		m.toReady.WithLabelValues(cluster).Observe(d.Seconds())
	}
}

func (m *Metrics) command(cluster, cmd string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.cmdDuration.WithLabelValues(cluster, cmd).Observe(d.Seconds())
	if err != nil {
		m.cmdErrors.WithLabelValues(cluster, cmd).Inc()
	}
}

func (m *Metrics) tracked(cluster string, servers []*Server) {
	if m == nil {
		return
	}
	counts := map[ServerState]int{}
	for _, s := range servers {
		counts[s.State]++
	}
	for _, st := range ActiveStates {
		m.servers.WithLabelValues(cluster, string(st)).Set(float64(counts[st]))
	}
}

// Login counts one login attempt by outcome.
func (m *Metrics) Login(outcome string) {
	if m != nil {
		m.logins.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) refresh(outcome string) {
	if m != nil {
		m.refreshes.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) revoked(reason string) {
	if m != nil {
		m.revocations.WithLabelValues(reason).Inc()
	}
}

// Refused counts one request refused by limit (one of refusalLimits).
func (m *Metrics) Refused(limit string) {
	if m != nil {
		m.refused.WithLabelValues(limit).Inc()
	}
}
