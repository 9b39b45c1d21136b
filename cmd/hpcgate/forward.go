package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"hpcgate/batch/sshexec"
	"hpcgate/gateway"
	"hpcgate/gateway/config"
)

// reverseAPI serves the hub API to the jobs of clusters with hub_api:
// reverse-tunnel: each such cluster's login node listens on its
// hub_api_bind and hands the connections to this process over the SSH
// connection. Only the hub API is served there: the compute nodes are the
// users' code, and the API authenticates every call.
type reverseAPI struct {
	srv      *http.Server
	forwards map[string]*sshexec.Forward // by cluster
	log      *slog.Logger
}

// startReverseAPI asks each reverse-tunnel cluster's login node for its
// forward and serves srv's hub API on it (srv is the hub's server, made for
// this purpose; its handler is narrowed to the hub API). It
// waits up to each login node's connect timeout for the first answer, so
// that a refusal is in the start-up log, but starts whatever the answer:
// the forward is retried in the background (a fixed sshd_config is picked
// up without a restart).
func startReverseAPI(ctx context.Context, cfg *config.Config, clusters map[string]*gateway.Cluster, srv *http.Server, log *slog.Logger) (*reverseAPI, error) {
	srv.Handler = hubAPIOnly(srv.Handler, cfg.Hub.BaseURL)
	r := &reverseAPI{srv: srv, forwards: map[string]*sshexec.Forward{}, log: log}
	for name, c := range clusters {
		if c.Config.HubAPI != config.HubAPIReverseTunnel {
			continue
		}
		pool, ok := c.Exec.(*sshexec.Pool)
		if !ok {
			continue
		}
		f, err := pool.Forward(c.Config.HubAPIBind)
		if err != nil {
			r.close()
			return nil, err
		}
		r.forwards[name] = f
	}
	for name, f := range r.forwards {
		wctx, cancel := context.WithTimeout(ctx, time.Duration(clusters[name].Config.Login.ConnectTimeout)+5*time.Second)
		err := f.WaitUp(wctx)
		cancel()
		if err != nil {
			log.Error("hub API not reachable from the compute nodes: "+err.Error(), "cluster", name, "bind", f.Addr().String(),
				"refused", errors.Is(err, sshexec.ErrForwardRefused))
		} else {
			log.Info("hub API forwarded to the compute nodes", "cluster", name, "bind", f.Addr().String(),
				"url", clusters[name].Config.HubAPIURL(&cfg.Hub))
		}
		go func() {
			if err := r.srv.Serve(f); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("serving the hub API on the reverse forward stopped", "cluster", name, "err", err)
			}
		}()
	}
	return r, nil
}

// shutdown lets requests through the forwards finish and cancels the
// forwards on the login nodes.
func (r *reverseAPI) shutdown(ctx context.Context) {
	if err := r.srv.Shutdown(ctx); err != nil {
		r.log.Warn("shutdown of the reverse-forwarded hub API: some connections were cut", "err", err)
	}
	r.close()
}

func (r *reverseAPI) close() {
	for _, f := range r.forwards {
		f.Close()
	}
}

// hubAPIOnly passes requests for the hub API (base_url + "hub/api") to h
// and answers 404 to everything else.
func hubAPIOnly(h http.Handler, baseURL string) http.Handler {
	prefix := strings.TrimSuffix(baseURL, "/") + "/hub/api"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p != prefix && !strings.HasPrefix(p, prefix+"/") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
			http.Error(w, "only the hub API is served here", http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	})
}
