package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"hpcgate/batch"
	"hpcgate/gateway/config"
	"hpcgate/gateway/proxy"
	"hpcgate/gateway/store"
)

// Cluster is one configured cluster with its adapters, wired by cmd.
type Cluster struct {
	Config    *config.Cluster
	Scheduler batch.Scheduler
	// Exec runs commands on the login node (reading the job's address
	// file and log).
	Exec batch.Executor
	// Dial opens a tunnel through the login node to the compute node.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Options configure a Hub.
type Options struct {
	Config   *config.Config
	Store    *store.Store
	Clusters map[string]*Cluster
	Proxy    *proxy.Proxy
	Logger   *slog.Logger
	Metrics  *Metrics // may be nil
	// Directory is where RefreshRights looks users up again; nil: never.
	Directory Directory
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Hub runs users' servers: it submits their jobs, follows them with one
// poller per cluster, checks the app answers through the tunnel, routes the
// proxy, and tells the pages what happens.
type Hub struct {
	cfg      *config.Config
	store    *store.Store
	clusters map[string]*Cluster
	order    []string // cluster names in config order
	proxy    *proxy.Proxy
	log      *slog.Logger
	metrics  *Metrics
	now      func() time.Time
	broker   *broker
	dir      Directory

	ctx     context.Context // lives until Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	pollers map[string]*poller

	mu       sync.Mutex
	starting map[int64]context.CancelFunc // readiness checks under way, by server id
	misses   map[int64]int                // consecutive polls a job was missing from
	inflight map[int64]bool               // submissions under way in this process
	warned   map[int64]string             // job id whose walltime warning was sent, by server id

	queues   queueCache
	activity activityLog
}

// New returns a Hub; Start re-adopts jobs and starts the pollers.
func New(o Options) *Hub {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		cfg: o.Config, store: o.Store, clusters: o.Clusters, proxy: o.Proxy,
		log: o.Logger, metrics: o.Metrics, now: o.Now, broker: newBroker(), dir: o.Directory,
		ctx: ctx, cancel: cancel, pollers: map[string]*poller{},
		starting: map[int64]context.CancelFunc{}, misses: map[int64]int{}, inflight: map[int64]bool{}, warned: map[int64]string{},
		queues: queueCache{snaps: map[string]QueueSnapshot{}, watched: map[string]time.Time{}},
	}
	for _, c := range o.Config.Clusters {
		if _, ok := o.Clusters[c.Name]; ok {
			h.order = append(h.order, c.Name)
			h.metrics.cluster(c.Name)
		}
	}
	return h
}

// Clusters returns the configured clusters in the site file's order.
func (h *Hub) Clusters() []*config.Cluster {
	out := make([]*config.Cluster, 0, len(h.order))
	for _, name := range h.order {
		out = append(out, h.clusters[name].Config)
	}
	return out
}

// Close stops the pollers and readiness checks and writes the activity
// noted since the last flush. Jobs keep running: a hub restart never
// cancels a job.
func (h *Hub) Close() {
	h.cancel()
	h.wg.Wait()
	h.flushActivity(context.Background())
}

func (h *Hub) cluster(name string) (*Cluster, error) {
	if name == "" && len(h.order) > 0 {
		name = h.order[0]
	}
	c, ok := h.clusters[name]
	if !ok {
		return nil, &Error{Code: EINVALID, Message: fmt.Sprintf("cluster: %q is not configured", name),
			Fields: map[string]string{"cluster": fmt.Sprintf("%q is not offered (choose %s)", name, strings.Join(h.order, " or "))}}
	}
	return c, nil
}

// jobName is unique per spawn and findable by prefix: the hub can adopt
// the job by name if it lost the id (a crash between sbatch and the write).
func jobName(user, server string) string {
	b := make([]byte, 4)
	rand.Read(b)
	s := server
	if s == "" {
		s = "default"
	}
	return "hpcgate-" + user + "-" + s + "-" + hex.EncodeToString(b)
}

// jobNamePrefix is what every job of user's server is named with.
func jobNamePrefix(user, server string) string {
	if server == "" {
		server = "default"
	}
	return "hpcgate-" + user + "-" + server + "-"
}

// Spawn validates req against the site's profile and submits the job. It
// returns once the server is recorded as submitting; the submission itself
// continues in the background so a slow login node never holds a request.
func (h *Hub) Spawn(ctx context.Context, req SpawnRequest) (*ServerInfo, error) {
	c, err := h.cluster(req.Cluster)
	if err != nil {
		return nil, err
	}
	prof, err := h.profileFor(c.Config, req.Profile, req.Groups)
	if err != nil {
		return nil, err
	}
	res, err := prof.Resolve(req.Options)
	if err != nil {
		var fe *config.FieldErrors
		if errors.As(err, &fe) {
			return nil, fieldError(fe)
		}
		return nil, err
	}
	if cur, err := h.store.GetServer(ctx, req.User, req.Server); err == nil && cur.State.Active() {
		return nil, Errorf(ECONFLICT, "%s's server is already %s", req.User, cur.State)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if _, err := h.store.EnsureUser(ctx, req.User); err != nil {
		return nil, err
	}
	srv, err := h.store.StartServer(ctx, store.Spawn{
		User: req.User, Name: req.Server, Cluster: c.Config.Name, Profile: prof.Name,
		Options: optionsOf(res), Walltime: res.Walltime, JobName: jobName(req.User, req.Server),
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, Errorf(ECONFLICT, "%s's server is already starting", req.User)
	} else if err != nil {
		return nil, err
	}
	token, err := h.serverToken(ctx, srv)
	if err != nil {
		h.store.SetState(ctx, srv.ID, []store.State{store.StateSubmitting}, store.StateFailed, "The hub could not create the server's API token.")
		return nil, err
	}
	spec := batch.JobSpec{
		Name: srv.JobName, User: req.User, Partition: res.Partition, Account: res.Account,
		Cores: res.Cores, MemoryMB: res.MemoryMB, GPUs: res.GPUs, Walltime: res.Walltime,
		Extra: res.Extra, RunDir: c.Config.RunDir,
		App: batch.App{
			Argv:  c.Config.App.Command,
			Setup: c.Config.App.Setup,
			Env:   h.appEnvFor(c.Config, req.User, req.Server, token),
		},
	}
	h.event(ctx, srv, "spawn", fmt.Sprintf("Requested by %s: %s on %s (%s).", orDefault(req.By, req.User), prof.Title, c.Config.Title, describe(res)))
	h.publish(srv)
	h.mu.Lock()
	h.inflight[srv.ID] = true
	h.mu.Unlock()
	info := h.info(srv)
	own := *srv // the submission goroutine's copy: it records the job id in it
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer func() {
			h.mu.Lock()
			delete(h.inflight, own.ID)
			h.mu.Unlock()
		}()
		h.submit(c, &own, spec)
	}()
	return info, nil
}

func (h *Hub) appEnvFor(c *config.Cluster, user, server, token string) map[string]string {
	env := appEnv(h.cfg.Hub.HubAPIURL, h.cfg.Hub.BaseURL, user, server, token)
	for k, v := range c.App.Env {
		env[k] = v
	}
	return env
}

// profileFor picks the named profile, or the first the user may use.
func (h *Hub) profileFor(c *config.Cluster, name string, groups []string) (*config.Profile, error) {
	var offered []string
	for i := range c.Profiles {
		p := &c.Profiles[i]
		if !p.AllowedFor(groups) {
			continue
		}
		offered = append(offered, p.Name)
		if name == "" || p.Name == name {
			return p, nil
		}
	}
	if len(offered) == 0 {
		return nil, Errorf(EFORBIDDEN, "no profile of cluster %s is open to your groups", c.Name)
	}
	return nil, &Error{Code: EINVALID, Message: fmt.Sprintf("profile: %q is not offered", name),
		Fields: map[string]string{"profile": fmt.Sprintf("%q is not offered (choose %s)", name, strings.Join(offered, " or "))}}
}

// submit runs sbatch/qsub and records the job id before anything else.
func (h *Hub) submit(c *Cluster, srv *store.Server, spec batch.JobSpec) {
	ctx, cancel := context.WithTimeout(h.ctx, 2*time.Minute)
	defer cancel()
	log := h.log.With("user", srv.User, "cluster", srv.Cluster, "job_name", srv.JobName)
	start := h.now()
	id, err := c.Scheduler.Submit(ctx, spec)
	h.metrics.command(c.Config.Name, "submit", h.now().Sub(start), err)
	if err != nil {
		log.Warn("submit failed", "err", err)
		h.metrics.spawn(c.Config.Name, "submit_failed")
		reason := "The scheduler refused the job: " + schedulerWords(err)
		h.finish(context.WithoutCancel(ctx), srv, StateFailed, reason, "submit")
		return
	}
	// The id first, in one quick write: from here on the job can be found.
	if err := h.store.SetJobID(context.WithoutCancel(ctx), srv.ID, id); err != nil {
		log.Error("record job id failed; the job will be adopted by name", "job", id, "err", err)
		return
	}
	srv.JobID = id
	log.Info("job submitted", "job", id)
	h.event(ctx, srv, "submitted", fmt.Sprintf("Job %s submitted to %s.", id, partitionOf(srv)))
	moved, err := h.store.SetState(ctx, srv.ID, []store.State{store.StateSubmitting}, store.StateQueued, "")
	if err == nil && !moved {
		// Stopped while sbatch ran: cancel what was just submitted.
		if cur, err := h.store.GetServerByID(ctx, srv.ID); err == nil && cur.State == StateStopping {
			h.cancelJob(ctx, c, cur)
		}
	}
	h.refresh(ctx, srv.ID)
	h.kick(c.Config.Name)
}

// Stop cancels the user's job and removes the route. The server shows
// as stopping until the scheduler confirms the job is gone.
func (h *Hub) Stop(ctx context.Context, user, server, by string) error {
	srv, err := h.store.GetServer(ctx, user, server)
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(ENOTFOUND, "%s has no server", user)
	} else if err != nil {
		return err
	}
	if !srv.State.Active() {
		return Errorf(ECONFLICT, "%s's server is not running", user)
	}
	if srv.State == StateStopping {
		return nil
	}
	if _, err := h.store.SetState(ctx, srv.ID, store.ActiveStates, store.StateStopping, ""); err != nil {
		return err
	}
	h.stopChecks(srv.ID)
	h.proxy.Routes().Delete(srv.User, srv.Name)
	h.event(ctx, srv, "stop", "Stop requested by "+orDefault(by, user)+".")
	c, err := h.cluster(srv.Cluster)
	if err != nil {
		return err
	}
	if srv.JobID == "" { // still submitting: submit cancels it once it has an id
		h.refresh(ctx, srv.ID)
		return nil
	}
	if err := h.cancelJob(ctx, c, srv); err != nil {
		h.refresh(ctx, srv.ID)
		return &Error{Code: EUNAVAILABLE, Message: "The scheduler did not accept the cancel: " + schedulerWords(err) + " The hub will try again."}
	}
	h.refresh(ctx, srv.ID)
	h.kick(c.Config.Name)
	return nil
}

func (h *Hub) cancelJob(ctx context.Context, c *Cluster, srv *store.Server) error {
	start := h.now()
	err := c.Scheduler.Cancel(ctx, srv.User, srv.JobID)
	h.metrics.command(c.Config.Name, "cancel", h.now().Sub(start), err)
	if err != nil {
		h.log.Warn("cancel failed", "user", srv.User, "cluster", srv.Cluster, "job", srv.JobID, "err", err)
	}
	return err
}

// finish moves a server to a final state, revokes its token, removes its
// route and tells the watchers.
func (h *Hub) finish(ctx context.Context, srv *store.Server, to, reason, endedBy string) {
	moved, err := h.store.SetState(ctx, srv.ID, store.ActiveStates, store.State(to), reason)
	if err != nil {
		h.log.Error("record end of server failed", "user", srv.User, "err", err)
		return
	}
	if !moved {
		return
	}
	h.stopChecks(srv.ID)
	h.proxy.Routes().Delete(srv.User, srv.Name)
	if srv.TokenID != 0 {
		h.store.DeleteToken(ctx, srv.User, srv.TokenID)
	}
	h.mu.Lock()
	delete(h.misses, srv.ID)
	h.mu.Unlock()
	kind := "stopped"
	if to == StateFailed {
		kind = "failed"
	}
	h.event(ctx, srv, kind, reason)
	h.metrics.ended(srv.Cluster, endedBy)
	h.refresh(ctx, srv.ID)
}

// refresh reloads a server and publishes its progress.
func (h *Hub) refresh(ctx context.Context, id int64) {
	srv, err := h.store.GetServerByID(context.WithoutCancel(ctx), id)
	if err != nil {
		h.log.Error("reload server failed", "server_id", id, "err", err)
		return
	}
	h.publish(srv)
}

func (h *Hub) event(ctx context.Context, srv *store.Server, kind, msg string) {
	h.eventData(ctx, srv, kind, msg, nil)
}

func (h *Hub) eventData(ctx context.Context, srv *store.Server, kind, msg string, data map[string]any) {
	_, err := h.store.AddEvent(context.WithoutCancel(ctx), store.Event{
		Time: h.now(), User: srv.User, Server: srv.Name, Cluster: srv.Cluster, JobID: srv.JobID, Kind: kind, Message: msg, Data: data,
	})
	if err != nil {
		h.log.Error("record event failed", "user", srv.User, "kind", kind, "err", err)
	}
}

// kick asks the cluster's poller for an early poll.
func (h *Hub) kick(cluster string) {
	if p := h.pollers[cluster]; p != nil {
		p.kick()
	}
}

// schedulerWords is what the scheduler said, for users: the stderr of a
// failed command, or the error itself.
func schedulerWords(err error) string {
	var ce *batch.CommandError
	if errors.As(err, &ce) && strings.TrimSpace(ce.Stderr) != "" {
		return strings.TrimSpace(ce.Stderr)
	}
	return err.Error()
}

func fieldError(fe *config.FieldErrors) *Error {
	e := &Error{Code: EINVALID, Message: fe.Error(), Fields: map[string]string{}}
	for _, f := range fe.Errors {
		e.Fields[f.Field] = f.Message
	}
	return e
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
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

// serverToken makes the server's own API token (JUPYTERHUB_API_TOKEN and
// the OAuth client secret). It dies with the server row or the next spawn.
func (h *Hub) serverToken(ctx context.Context, srv *store.Server) (string, error) {
	plain, tok, err := h.store.NewToken(ctx, store.TokenSpec{
		User: srv.User, Kind: store.KindServer, Note: "server " + srv.Cluster + "/" + srv.Profile,
		Scopes:   store.ServerScopes(srv.User, srv.Name),
		ServerID: srv.ID,
	})
	if err != nil {
		return "", fmt.Errorf("create server token: %w", err)
	}
	if err := h.store.SetTokenID(ctx, srv.ID, tok.ID); err != nil {
		return "", err
	}
	srv.TokenID = tok.ID
	return plain, nil
}
