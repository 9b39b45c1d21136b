package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"

	"hpcgate/gateway/config"
	"hpcgate/gateway/proxy"
	"hpcgate/gateway/services"
	"hpcgate/gateway/web"
)

// startServices settles the services' tokens (a managed one's derived
// from the cookie secret, the same on every replica), starts the managed
// ones and builds what the web layer needs of each: token, proxy, pid.
// The returned stop ends the managed services.
func startServices(cfg *config.Config, secret []byte, px *proxy.Proxy, log *slog.Logger) (map[string]web.ServiceRuntime, func(), error) {
	if len(cfg.Services) == 0 {
		return nil, func() {}, nil
	}
	tokens, err := services.Tokens(cfg.Services, secret)
	if err != nil {
		return nil, nil, err
	}
	sup, err := services.Start(cfg.Services, tokens, services.Options{
		Hub:    services.Hub{APIURL: serviceHubAPIURL(&cfg.Hub), BaseURL: cfg.Hub.BaseURL},
		Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	rts := map[string]web.ServiceRuntime{}
	for _, sv := range cfg.Services {
		rt := web.ServiceRuntime{Token: tokens[sv.Name]}
		if sv.URL != "" {
			u, err := url.Parse(sv.URL)
			if err != nil {
				sup.Stop()
				return nil, nil, fmt.Errorf("service %s: url: %w", sv.Name, err)
			}
			rt.Proxy = px.ServiceHandler(sv.Name, u)
		}
		if sv.Managed() {
			name := sv.Name
			rt.PID = func() int { return sup.PID(name) }
		}
		rts[sv.Name] = rt
	}
	return rts, sup.Stop, nil
}

// serviceHubAPIURL is where a managed service, a child of the hub on its
// host, reaches the hub API: the listen address over plain HTTP (on
// 127.0.0.1 when the hub listens on every interface, as JupyterHub
// does), or hub_api_url when the hub serves HTTPS, whose certificate
// names the public host.
func serviceHubAPIURL(h *config.Hub) string {
	host, port, err := net.SplitHostPort(h.Listen)
	if h.TLSCert != "" || err != nil {
		return h.HubAPIURL
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + h.BaseURL + "hub/api"
}
