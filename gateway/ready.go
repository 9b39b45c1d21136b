package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"hpcgate/batch"
)

// checkReady starts, once per server, the loop that finds where the app
// listens and declares the server ready when a request through the hub's
// own tunnel succeeds — not merely when the job is running.
func (h *Hub) checkReady(c *Cluster, id int64) {
	h.mu.Lock()
	if _, ok := h.starting[id]; ok {
		h.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(h.ctx)
	h.starting[id] = cancel
	h.mu.Unlock()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer h.stopChecks(id)
		h.readyLoop(ctx, c, id)
	}()
}

func (h *Hub) stopChecks(id int64) {
	h.mu.Lock()
	if cancel, ok := h.starting[id]; ok {
		cancel()
		delete(h.starting, id)
	}
	h.mu.Unlock()
}

func (h *Hub) readyLoop(ctx context.Context, c *Cluster, id int64) {
	client := readyClient(c.Dial)
	defer client.CloseIdleConnections()
	wait := readyFirstWait
	for {
		if !h.leads(lockPoll(c.Config.Name)) {
			return // the new leader's poll starts its own check
		}
		srv, err := h.servers.GetServerByID(ctx, id)
		if err != nil || srv.State != StateStarting {
			return
		}
		if srv.Port == 0 {
			h.readAddr(ctx, c, srv)
			if srv.Port != 0 {
				// The app writes its address as it starts listening:
				// probe now, and again soon, not after the wait the
				// address polling had grown to.
				wait = readyFirstWait
			}
		}
		if srv.Port != 0 {
			if err := h.probe(ctx, client, c, srv); err == nil {
				h.markReady(ctx, c, srv)
				return
			} else {
				h.log.Debug("app not answering yet", "user", srv.User, "job", srv.JobID, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = nextReadyWait(wait)
	}
}

// The readiness loop polls for the address file and then probes the app,
// first right away and then backing off: a trivial app answers within
// tens of milliseconds of writing its address, JupyterLab in seconds, and
// each poll is a command over SSH.
const (
	readyFirstWait = 50 * time.Millisecond
	readyMaxWait   = 3 * time.Second
)

// nextReadyWait grows a wait by half, up to readyMaxWait.
func nextReadyWait(w time.Duration) time.Duration {
	return min(w+w/2, readyMaxWait)
}

// readAddr reads "host port" that the job script wrote, as the user, and
// records it only if it is the job's own node (see jobTarget); any other
// address fails the spawn before a connection is opened to it.
func (h *Hub) readAddr(ctx context.Context, c *Cluster, srv *Server) {
	path := jobFiles(c, srv).AddrFile()
	out, err := c.Exec.Run(ctx, batch.Command{User: srv.User, Argv: []string{"tail", "-c", fmt.Sprint(maxAddrFile), "--", path}})
	if err != nil {
		return // not written yet
	}
	host, port, err := batch.ParseAddr(out)
	if err != nil {
		h.log.Warn("bad address file", "user", srv.User, "job", srv.JobID, "err", err)
		return
	}
	if host, err = jobTarget(srv.Node, host, port); err != nil {
		h.log.Warn("refused the job's address", "user", srv.User, "cluster", srv.Cluster, "job", srv.JobID, "node", srv.Node, "err", err)
		// finish ends this check and so ctx; what follows must not stop
		// half done.
		ctx := context.WithoutCancel(ctx)
		h.cancelJob(ctx, c, srv)
		h.finish(ctx, srv, StateFailed, "Refused the job's address: "+err.Error()+".", "bad_address")
		h.metrics.spawn(c.Config.Name, "bad_address")
		return
	}
	if err := h.servers.SetAddress(ctx, srv.ID, host, port); err != nil {
		h.log.Error("record address failed", "user", srv.User, "err", err)
		return
	}
	srv.Host, srv.Port = host, port
	h.event(ctx, srv, "listening", fmt.Sprintf("The app listens on %s:%d; waiting for it to answer.", host, port))
	h.refresh(ctx, srv.ID)
}

// probe asks the app for its readiness path (the app's ready: block;
// jupyterhub-singleuser's api) through the tunnel, presenting the job's
// secret as the proxy would. With no expected status any answer below 500
// (a redirect to log in is fine) means it is up.
func (h *Hub) probe(ctx context.Context, client *http.Client, c *Cluster, srv *Server) error {
	app := serverApp(c.Config, srv)
	ra := h.routeApp(app, srv)
	path := UserURL(h.cfg.Hub.BaseURL, srv.User, srv.Name) + app.Ready.Path
	if ra != nil && ra.Strip {
		path = "/" + app.Ready.Path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s%s", net.JoinHostPort(srv.Host, fmt.Sprint(srv.Port)), path), nil)
	if err != nil {
		return err
	}
	if ra != nil {
		switch {
		case ra.Header != "":
			req.Header.Set(ra.Header, ra.HeaderValue)
		case ra.Cookie != "":
			req.AddCookie(&http.Cookie{Name: ra.Cookie, Value: ra.Secret})
		case ra.Query != "":
			q := req.URL.Query()
			q.Set(ra.Query, ra.Secret)
			req.URL.RawQuery = q.Encode()
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	switch want := app.Ready.Status; {
	case want != 0 && resp.StatusCode != want:
		return fmt.Errorf("%s answered %s, want %d", path, resp.Status, want)
	case resp.StatusCode >= 500:
		return errors.New(resp.Status)
	}
	return nil
}

func (h *Hub) markReady(ctx context.Context, c *Cluster, srv *Server) {
	h.route(c, srv)
	ok, err := h.transition(ctx, srv, StateReady, "", StateStarting)
	if err != nil || !ok {
		return
	}
	now := h.now()
	h.log.Info("server ready", "user", srv.User, "cluster", srv.Cluster, "job", srv.JobID, "node", srv.Node)
	h.event(ctx, srv, "ready", "Server ready at "+UserURL(h.cfg.Hub.BaseURL, srv.User, srv.Name))
	h.metrics.spawn(c.Config.Name, "ready")
	h.metrics.toReadyObs(c.Config.Name, now.Sub(srv.Submitted))
	h.refresh(ctx, srv.ID)
}

// route points the proxy at the server's app through the cluster's tunnel.
func (h *Hub) route(c *Cluster, srv *Server) {
	err := h.routes.SetRoute(srv.User, srv.Name, RouteTarget{Host: srv.Host, Port: srv.Port, Dial: c.Dial,
		App: h.routeApp(serverApp(c.Config, srv), srv)})
	if err != nil {
		h.log.Error("set route failed", "user", srv.User, "err", err)
	}
}

// LogTail returns the last lines of the job's log, read as the user.
func (h *Hub) LogTail(ctx context.Context, user, server string) (string, error) {
	srv, err := h.servers.GetServer(ctx, user, server)
	if err != nil {
		return "", err
	}
	c, err := h.cluster(srv.Cluster)
	if err != nil {
		return "", err
	}
	return h.logTail(ctx, c, srv)
}

func (h *Hub) logTail(ctx context.Context, c *Cluster, srv *Server) (string, error) {
	path := jobFiles(c, srv).LogFile()
	out, err := c.Exec.Run(ctx, batch.Command{User: srv.User, Argv: []string{"tail", "-n", "30", "--", path}})
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(out), "\n"), nil
}

func (h *Hub) logTailSuffix(ctx context.Context, c *Cluster, srv *Server) string {
	tail, err := h.logTail(ctx, c, srv)
	if err != nil || strings.TrimSpace(tail) == "" {
		return ""
	}
	log := jobFiles(c, srv).LogFile()
	if !strings.HasPrefix(log, "/") {
		log = "~/" + log
	}
	return "\n\nThe end of the job's log (" + log + "):\n" + tail
}

// jobFiles names the files the job script writes (batch.JobSpec's AddrFile
// and LogFile, where the script template puts them).
func jobFiles(c *Cluster, srv *Server) batch.JobSpec {
	return batch.JobSpec{Name: srv.JobName, RunDir: c.Config.RunDir}
}

// readyClient is the HTTP client readiness checks use through a tunnel.
func readyClient(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext:       dial,
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
