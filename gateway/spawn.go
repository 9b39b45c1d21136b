package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"hpcgate/batch"
	"hpcgate/gateway/config"
)

// SpawnRequest asks for a user's server.
type SpawnRequest struct {
	User    string // owner
	Server  string // server name, "" for the default server
	Cluster string // "" for the first cluster
	Profile string // "" for the first profile the user may use
	// Options are the raw form or API values (partition, account, cores,
	// memory, gpus, walltime), validated against the profile.
	Options map[string]string
	Groups  []string // the owner's directory groups (profiles may be restricted)
	By      string   // who asked: the owner, or an admin
	// Workshop names the workshop the server is for (workshop.go): its
	// profiles, reservation and limits apply. SessionEnd (with Now) is
	// the end of its session, which the walltime runs to.
	Workshop        string
	Session         int
	Now, SessionEnd time.Time
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
	plan, err := PlanSpawn(h.cfg, req)
	if err != nil {
		return nil, err
	}
	c, err := h.cluster(plan.Cluster.Name)
	if err != nil {
		return nil, err
	}
	prof, res := plan.Profile, plan.Resources
	if err := h.checkNamedServer(ctx, req.User, req.Server); err != nil {
		return nil, err
	}
	if cur, err := h.servers.GetServer(ctx, req.User, req.Server); err == nil && cur.State.Active() {
		return nil, Errorf(ECONFLICT, "%s is already %s", serverLabel(req.User, req.Server), cur.State)
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if _, err := h.users.EnsureUser(ctx, req.User); err != nil {
		return nil, err
	}
	srv, err := h.servers.StartServer(ctx, NewServer{
		User: req.User, Name: req.Server, Cluster: c.Config.Name, Profile: prof.Name,
		Resources: res, JobName: jobName(req.User, req.Server),
	})
	if errors.Is(err, ErrConflict) {
		return nil, Errorf(ECONFLICT, "%s is already starting", serverLabel(req.User, req.Server))
	} else if err != nil {
		return nil, err
	}
	if plan.Workshop != nil {
		h.recordWorkshopJob(ctx, plan.Workshop, req.Session, srv) // workshop_hub.go
	}
	spec := batch.JobSpec{
		Name: srv.JobName, User: req.User, Partition: res.Partition, Account: res.Account,
		Cores: res.Cores, MemoryMB: res.MemoryMB, GPUs: res.GPUs, Walltime: res.Walltime,
		Extra: res.Extra, RunDir: c.Config.RunDir,
	}
	app := serverApp(c.Config, srv)
	if app.Auth == config.AuthToken {
		// No hub API token and no JupyterHub environment: the job never
		// calls the hub; the proxy presents the secret.
		spec.App = batch.App{Argv: app.Command, Setup: append(slices.Clone(app.Setup), workshopSetup(plan)...), Env: app.Env,
			BaseURL: UserURL(h.cfg.Hub.BaseURL, req.User, req.Server), Secret: h.appSecret(srv.JobName)}
	} else {
		token, err := h.serverToken(ctx, srv)
		if err != nil {
			h.transition(ctx, srv, StateFailed, "The hub could not create the server's API token.", StateSubmitting)
			return nil, err
		}
		spec.App = batch.App{
			Argv:  c.Config.App.Command,
			Setup: append(slices.Clone(c.Config.App.Setup), workshopSetup(plan)...),
			Env:   h.appEnvFor(c.Config, req.User, req.Server, token),
		}
	}
	h.event(ctx, srv, "spawn", fmt.Sprintf("Requested by %s: %s, %s on %s (%s).", orDefault(req.By, req.User), app.Title, prof.Title, c.Config.Title, describe(res)))
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
	env := appEnv(c.HubAPIURL(&h.cfg.Hub), h.cfg.Hub.BaseURL, user, server, token)
	for k, v := range c.App.Env {
		env[k] = v
	}
	return env
}

// submit runs sbatch/qsub and records the job id before anything else.
func (h *Hub) submit(c *Cluster, srv *Server, spec batch.JobSpec) {
	ctx, cancel := context.WithTimeout(h.ctx, submitTimeout)
	defer cancel()
	log := h.log.With("user", srv.User, "cluster", srv.Cluster, "job_name", srv.JobName)
	start := h.now()
	id, err := c.Scheduler.Submit(ctx, spec)
	h.metrics.command(c.Config.Name, "submit", h.now().Sub(start), err)
	if err != nil {
		log.Warn("submit failed", "err", err)
		h.metrics.spawn(c.Config.Name, "submit_failed")
		reason := submitFailure(err)
		h.finish(context.WithoutCancel(ctx), srv, StateFailed, reason, "submit")
		return
	}
	// The id first, in one quick write: from here on the job can be found.
	if err := h.servers.SetJobID(context.WithoutCancel(ctx), srv.ID, id); err != nil {
		log.Error("record job id failed; the job will be adopted by name", "job", id, "err", err)
		return
	}
	srv.JobID = id
	log.Info("job submitted", "job", id)
	h.event(ctx, srv, "submitted", fmt.Sprintf("Job %s submitted to %s.", id, partitionOf(srv)))
	moved, err := h.transition(ctx, srv, StateQueued, "", StateSubmitting)
	if err == nil && !moved {
		// Stopped while sbatch ran, or ended by a replica that took the
		// submission for lost: cancel what was just submitted. Queued or
		// further on, another replica adopted this very job by name.
		if cur, err := h.servers.GetServerByID(ctx, srv.ID); err == nil && (cur.State == StateStopping || !cur.State.Active()) {
			cur.JobID = id
			h.cancelJob(ctx, c, cur)
		}
	}
	h.refresh(ctx, srv.ID)
	h.kick(c.Config.Name)
}

// submitFailure is the reason a failed submission shows. Only a command
// that ran and failed is the scheduler's (or the login node's) refusal; a
// login node that could not be reached, or a script that could not be
// made, is said as it is, so nobody looks for the fault in the scheduler.
func submitFailure(err error) string {
	var ce *batch.CommandError
	if errors.As(err, &ce) {
		return "The scheduler refused the job: " + schedulerWords(err)
	}
	return "The job could not be submitted: " + err.Error()
}

// serverToken makes the server's own API token (JUPYTERHUB_API_TOKEN and
// the OAuth client secret). It dies with the server row or the next spawn.
func (h *Hub) serverToken(ctx context.Context, srv *Server) (string, error) {
	plain, tok, err := h.tokens.NewToken(ctx, TokenSpec{
		User: srv.User, Kind: TokenServer, Note: "server " + srv.Cluster + "/" + srv.Profile,
		Scopes:   ServerScopes(srv.User, srv.Name),
		ServerID: srv.ID,
	})
	if err != nil {
		return "", fmt.Errorf("create server token: %w", err)
	}
	if err := h.servers.SetTokenID(ctx, srv.ID, tok.ID); err != nil {
		return "", err
	}
	srv.TokenID = tok.ID
	return plain, nil
}

func describe(r config.Resources) string {
	parts := []string{fmt.Sprintf("%d core(s)", r.Cores)}
	if r.MemoryMB > 0 {
		parts = append(parts, fmt.Sprintf("%d MB", r.MemoryMB))
	}
	if r.GPUs > 0 {
		parts = append(parts, fmt.Sprintf("%d GPU(s)", r.GPUs))
	}
	parts = append(parts, FormatDuration(r.Walltime)+" walltime")
	if r.Partition != "" {
		parts = append(parts, "partition "+r.Partition)
	}
	if r.Account != "" {
		parts = append(parts, "account "+r.Account)
	}
	return strings.Join(parts, ", ")
}

func partitionOf(s *Server) string {
	if p := s.Resources.Partition; p != "" {
		return "partition " + p
	}
	return "the default partition"
}
