package gateway

import (
	"context"

	dto "github.com/prometheus/client_model/go"
)

// What the external tests (package gateway_test, which run the hub on the
// real store) drive directly.

// Poller is one cluster's poller, which tests poll by hand.
type Poller struct{ p *poller }

// Poll runs one round now.
func (p *Poller) Poll(ctx context.Context) { p.p.poll(ctx) }

// TestPoller makes cluster's poller without starting its loop.
func (h *Hub) TestPoller(cluster string) *Poller {
	p := &poller{h: h, c: h.clusters[cluster], kickCh: make(chan struct{}, 1)}
	h.pollers[cluster] = p
	return &Poller{p}
}

// The readiness loop's waits (ready.go).
const (
	ReadyFirstWait = readyFirstWait
	ReadyMaxWait   = readyMaxWait
)

var NextReadyWait = nextReadyWait

// Wait waits for the hub's background work (submissions, readiness checks).
func (h *Hub) Wait() { h.wg.Wait() }

func (h *Hub) ServerToken(ctx context.Context, srv *Server) (string, error) {
	return h.serverToken(ctx, srv)
}

func (h *Hub) SetDirectory(d Directory) { h.dir = d }
func (h *Hub) SetMetrics(m *Metrics)    { h.metrics = m }

// Refreshes is the count of rights refreshes with outcome.
func (m *Metrics) Refreshes(outcome string) float64 {
	var d dto.Metric
	if err := m.refreshes.WithLabelValues(outcome).Write(&d); err != nil {
		panic(err)
	}
	return d.GetCounter().GetValue()
}
