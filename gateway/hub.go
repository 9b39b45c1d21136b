package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"hpcgate/batch"
	"hpcgate/gateway/config"
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
	Clusters map[string]*Cluster
	// The stores (cmd passes one *store.Store for all) and the proxy's
	// route table.
	Servers  ServerStore
	Users    UserStore
	Tokens   TokenStore
	Sessions SessionStore
	Events   EventStore
	Routes   Router
	Logger   *slog.Logger
	Metrics  *Metrics // may be nil
	// Directory is where RefreshRights looks users up again; nil: never.
	Directory Directory
	// Workshops keeps the workshops' jobs and Members lists their
	// groups' members; nil: the site's workshops are not run.
	Workshops WorkshopStore
	Members   GroupDirectory
	// Now is the clock; default time.Now.
	Now func() time.Time
	// AppKey derives each job's secret for the apps that authenticate
	// with one (config.AuthToken). cmd passes the cookie secret, so the
	// secrets of running jobs survive a restart. Default: random, for
	// this process only.
	AppKey []byte
	// Replicas is the group of hubs sharing the database, which chooses
	// who polls each cluster and runs each cron job; nil: this hub is the
	// only one and does everything (replicas.go).
	Replicas Replicas
}

// Hub runs users' servers: it submits their jobs, follows them with one
// poller per cluster, checks the app answers through the tunnel, routes the
// proxy, and tells the pages what happens.
type Hub struct {
	cfg      *config.Config
	servers  ServerStore
	users    UserStore
	tokens   TokenStore
	sessions SessionStore
	events   EventStore
	routes   Router
	clusters map[string]*Cluster
	order    []string // cluster names in config order
	log      *slog.Logger
	metrics  *Metrics
	now      func() time.Time
	broker   *broker
	dir      Directory
	appKey   []byte
	ws       workshopState // workshop_hub.go
	replicas Replicas      // nil: alone

	ctx     context.Context // lives until Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	pollers map[string]*poller // one per cluster, made by New and never changed

	mu       sync.Mutex
	starting map[int64]context.CancelFunc // readiness checks under way, by server id
	misses   map[int64]int                // consecutive polls a job was missing from
	inflight map[int64]bool               // submissions under way in this process
	warned   map[int64]string             // job id whose walltime warning was sent, by server id
	remove   map[int64]bool               // named servers to delete once their job ends (named.go)

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
	if len(o.AppKey) == 0 {
		o.AppKey = make([]byte, 32)
		rand.Read(o.AppKey)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{appKey: o.AppKey,
		cfg: o.Config, servers: o.Servers, users: o.Users, tokens: o.Tokens, sessions: o.Sessions, events: o.Events,
		routes: o.Routes, clusters: o.Clusters, ws: workshopState{store: o.Workshops, members: o.Members},
		log: o.Logger, metrics: o.Metrics, now: o.Now, broker: newBroker(), dir: o.Directory, replicas: o.Replicas,
		ctx: ctx, cancel: cancel, pollers: map[string]*poller{},
		starting: map[int64]context.CancelFunc{}, misses: map[int64]int{}, inflight: map[int64]bool{}, warned: map[int64]string{}, remove: map[int64]bool{},
		queues: queueCache{snaps: map[string]QueueSnapshot{}, watched: map[string]time.Time{}},
	}
	for _, c := range o.Config.Clusters {
		if _, ok := o.Clusters[c.Name]; ok {
			h.order = append(h.order, c.Name)
			h.metrics.cluster(c.Name)
			h.pollers[c.Name] = &poller{h: h, c: o.Clusters[c.Name], kickCh: make(chan struct{}, 1)}
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

// Close stops the pollers and readiness checks. Jobs keep running: a hub
// restart never cancels a job.
func (h *Hub) Close() {
	h.cancel()
	h.wg.Wait()
	// The activity the proxy noted since the last flush (activity.go).
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

// refresh reloads a server and publishes its progress, here and to the
// other replicas.
func (h *Hub) refresh(ctx context.Context, id int64) {
	srv, err := h.servers.GetServerByID(context.WithoutCancel(ctx), id)
	if err != nil {
		h.log.Error("reload server failed", "server_id", id, "err", err)
		return
	}
	h.publish(srv)
}

func (h *Hub) event(ctx context.Context, srv *Server, kind, msg string) {
	h.eventData(ctx, srv, kind, msg, nil)
}

func (h *Hub) eventData(ctx context.Context, srv *Server, kind, msg string, data map[string]any) {
	_, err := h.events.AddEvent(context.WithoutCancel(ctx), Event{
		Time: h.now(), User: srv.User, Server: srv.Name, Cluster: srv.Cluster, JobID: srv.JobID, Kind: kind, Message: msg, Data: data,
	})
	if err != nil {
		h.log.Error("record event failed", "user", srv.User, "kind", kind, "err", err)
	}
}

// kick asks the cluster's poller for an early poll, wherever it runs.
func (h *Hub) kick(cluster string) {
	if p := h.pollers[cluster]; p != nil && h.leads(lockPoll(cluster)) {
		p.kick()
		return
	}
	h.tell(topicKick, cluster)
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

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
