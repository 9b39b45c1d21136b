package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"hpcgate/batch/sshexec"
	"hpcgate/gateway"
	"hpcgate/gateway/config"
	"hpcgate/gateway/proxy"
)

// registerAdapterMetrics exports the SSH pools' and the proxy's counters,
// read when Prometheus scrapes (the adapters know nothing of Prometheus).
func registerAdapterMetrics(m *gateway.Metrics, clusters map[string]*gateway.Cluster, px *proxy.Proxy) {
	for name, c := range clusters {
		stats, ok := c.Exec.(interface{ Stats() sshexec.Stats })
		if !ok {
			continue
		}
		labels := prometheus.Labels{"cluster": name}
		m.Registry.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hpcgate_ssh_connections", Help: "Open SSH connections to the login node.", ConstLabels: labels},
				func() float64 { return float64(stats.Stats().OpenConns) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hpcgate_ssh_handshakes_total", Help: "SSH handshakes with the login node.", ConstLabels: labels},
				func() float64 { return float64(stats.Stats().Handshakes) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hpcgate_ssh_reconnects_total", Help: "Connections re-established after a loss.", ConstLabels: labels},
				func() float64 { return float64(stats.Stats().Reconnects) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hpcgate_ssh_commands_total", Help: "Remote commands run over SSH.", ConstLabels: labels},
				func() float64 { return float64(stats.Stats().Commands) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hpcgate_ssh_tunnels_total", Help: "Tunnels opened through the login node.", ConstLabels: labels},
				func() float64 { return float64(stats.Stats().Tunnels) }),
		)
		if c.Config.HubAPI == config.HubAPIReverseTunnel {
			m.Registry.MustRegister(
				prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hpcgate_ssh_reverse_forward_up", Help: "1 while the login node listens on hub_api_bind for the hub API.", ConstLabels: labels},
					func() float64 { return float64(stats.Stats().ForwardsUp) }),
				prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hpcgate_ssh_reverse_forward_setups_total", Help: "Reverse forwards established (again after each lost connection).", ConstLabels: labels},
					func() float64 { return float64(stats.Stats().ForwardSetups) }),
				prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hpcgate_ssh_reverse_forward_connections_total", Help: "Connections from the compute nodes through the reverse forward.", ConstLabels: labels},
					func() float64 { return float64(stats.Stats().ForwardConns) }),
			)
		}
	}
	classes := []struct {
		code string
		get  func(proxy.Stats) uint64
	}{
		{"1xx", func(s proxy.Stats) uint64 { return s.Status1xx }},
		{"2xx", func(s proxy.Stats) uint64 { return s.Status2xx }},
		{"3xx", func(s proxy.Stats) uint64 { return s.Status3xx }},
		{"4xx", func(s proxy.Stats) uint64 { return s.Status4xx }},
		{"5xx", func(s proxy.Stats) uint64 { return s.Status5xx }},
	}
	for _, cl := range classes {
		get := cl.get
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "hpcgate_proxy_requests_total", Help: "Requests proxied to users' servers, by status class (1xx: WebSocket upgrades); 5xx are the app's answers and the hub's (server not responding), never a client that left.",
			ConstLabels: prometheus.Labels{"code": cl.code},
		}, func() float64 { return float64(get(px.Stats())) }))
	}
	m.Registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hpcgate_proxy_unreachable_total", Help: "Proxied requests a server did not answer."},
			func() float64 { return float64(px.Stats().Unreachable) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hpcgate_proxy_client_gone_total", Help: "Proxied requests whose client left before the server answered (in no status class)."},
			func() float64 { return float64(px.Stats().ClientGone) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hpcgate_proxy_tunnel_channels_opened_total", Help: "Connections the proxy opened to servers (SSH channels, or TCP connections with proxy: direct); flat under steady load."},
			func() float64 { return float64(px.Stats().ChannelsOpened) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hpcgate_proxy_websockets_open", Help: "WebSockets open through the proxy."},
			func() float64 { return float64(px.Stats().WebSocketsOpen) }),
	)
}
