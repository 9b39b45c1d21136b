package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"hpcgate/gateway"
	"hpcgate/gateway/config"
	"hpcgate/gateway/ldapauth"
	"hpcgate/gateway/proxy"
	"hpcgate/gateway/store"
	"hpcgate/gateway/web"
	"hpcgate/templates"
)

// The adapters serve the domain's interfaces (the store's guards are in
// package store; proxy imports nothing of hpcgate, so its adapter and
// guard are in router.go).
var _ gateway.Replicas = (*store.Replica)(nil)

func runServe(ctx context.Context, m *Main, args []string) error {
	fs := m.flags("serve")
	site := siteFlag(fs)
	logFormat := fs.String("log-format", "", "log as `text` or json (default: the site file's hub.log_format)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := loadSite(*site)
	if err != nil {
		fmt.Fprintln(m.Stderr, err)
		return exitError{1}
	}
	if *logFormat != "" {
		cfg.Hub.LogFormat = *logFormat
	}
	log := newLogger(m.Stderr, cfg.Hub.LogFormat, cfg.Hub.LogLevel)
	slog.SetDefault(log)
	if errs := cfg.CheckFiles(); len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(m.Stderr, e)
		}
		return exitError{1}
	}
	return serve(ctx, cfg, log)
}

// serve runs the hub until ctx ends (SIGTERM/SIGINT), then lets in-flight
// requests finish, stops the pollers and closes the database. Jobs keep
// running: the next start re-adopts them.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	if err := os.MkdirAll(cfg.Hub.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	dbURL, err := cfg.Hub.DatabaseURLWithPassword()
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	// SQLite: this is the only hub on the file. PostgreSQL: one replica
	// of any number, which shares the work through the database.
	release, err := db.ClaimSQLite()
	if err != nil {
		return err
	}
	defer release()
	var replicas gateway.Replicas
	// The hub hears the other replicas once it exists; what they said
	// before, Start reads from the database.
	var heard atomic.Pointer[gateway.Hub]
	if db.Dialect() == store.Postgres {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		replica, err := db.StartReplica(rctx, store.ReplicaOptions{
			Hear: func(topic, payload string) {
				if h := heard.Load(); h != nil {
					h.Hear(topic, payload)
				}
			},
			Resync: func() {
				if h := heard.Load(); h != nil {
					h.Resync()
				}
			},
		})
		cancel()
		if err != nil {
			return err
		}
		defer replica.Close()
		replicas = replica
	}
	secret, err := cookieSecret(cfg.Hub.CookieSecretFile)
	if err != nil {
		return err
	}
	auth, err := newAuthenticator(cfg, log)
	if err != nil {
		return err
	}
	defer auth.Close()
	tmpl := templatesFS(cfg)
	clusters, closeClusters, err := openClusters(cfg, tmpl, log)
	if err != nil {
		return err
	}
	defer closeClusters()

	metrics := gateway.NewMetrics()
	var hub *gateway.Hub
	base := strings.TrimSuffix(cfg.Hub.BaseURL, "/")
	px := proxy.New(proxy.Config{
		Logger: log,
		// Behind the site's TLS terminator (hub.trusted_proxies), apps
		// see its X-Forwarded-Proto: https, so they mark their own
		// cookies Secure, and the client's address; from anyone else
		// "http" and that peer's address.
		TrustedProxies: cfg.Hub.TrustedProxyPrefixes(),
		// A request for a server with no route goes to the hub's page for
		// it: the pending page while it starts, or an offer to start it.
		OnMissing: func(w http.ResponseWriter, r *http.Request, user, server string) {
			rest := strings.TrimPrefix(r.URL.EscapedPath(), base+"/user/"+user)
			target := base + "/hub/user/" + user + rest
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, target, http.StatusFound)
		},
		// Noted in memory, written in the background: nothing is
		// written on the request path.
		OnActivity: func(user, server string, t time.Time) { hub.NoteActivity(user, server, t) },
	})
	defer px.Close()
	hub = gateway.New(gateway.Options{Config: cfg, Clusters: clusters,
		Servers: db, Users: db, Tokens: db, Sessions: db, Events: db, Routes: hubRouter{px}, Logger: log, Metrics: metrics,
		AppKey:    secret,
		Directory: rightsDirectory(cfg, auth, log), Workshops: db, Members: workshopDirectory(cfg, auth, log),
		Replicas: replicas})
	defer hub.Close()
	heard.Store(hub)
	registerAdapterMetrics(metrics, clusters, px)

	// Re-adopt every job before serving, so the first request already
	// finds the running notebooks routed.
	if err := hub.Start(ctx); err != nil {
		return err
	}
	sched, err := hub.StartCron()
	if err != nil {
		return err
	}
	defer sched.Stop()

	svcs, stopServices, err := startServices(cfg, secret, px, log)
	if err != nil {
		return err
	}
	defer stopServices()

	w, err := web.New(web.Options{
		Config: cfg, Store: db, Hub: hub, Auth: auth, Logger: log,
		CookieSecret: secret, Version: version, Templates: tmpl, Metrics: metrics,
		Workshops: hub, Services: svcs, Replica: hub.Replica,
	})
	if err != nil {
		return err
	}
	srv := w.HTTPServer(cfg.Hub.Listen, slog.NewLogLogger(log.Handler(), slog.LevelWarn))
	rev, err := startReverseAPI(ctx, cfg, clusters, w.HTTPServer("", slog.NewLogLogger(log.Handler(), slog.LevelWarn)), log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Hub.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	errc := make(chan error, 1)
	go func() {
		if cfg.Hub.TLSCert != "" {
			errc <- srv.ServeTLS(ln, cfg.Hub.TLSCert, cfg.Hub.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	log.Info("hpcgate serving", "version", version, "listen", ln.Addr().String(),
		"url", strings.TrimSuffix(cfg.Hub.PublicURL, "/")+cfg.Hub.BaseURL, "clusters", len(clusters), "database", db.Dialect())
	go checkDirectoryAtStart(ctx, cfg, auth, log)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests; jobs keep running")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown: some connections were cut", "err", err)
	}
	rev.shutdown(sctx)
	log.Info("stopped")
	return nil
}

// checkDirectoryAtStart tells the log at once when the directory does not
// answer, or refuses the service account or a configured DN: the hub
// serves regardless (the directory may come back), but otherwise the first
// sign would be a user who cannot log in.
func checkDirectoryAtStart(ctx context.Context, cfg *config.Config, auth *ldapauth.Authenticator, log *slog.Logger) {
	cctx, cancel := context.WithTimeout(ctx, time.Duration(cfg.LDAP.Timeout)+5*time.Second)
	defer cancel()
	if err := auth.Check(cctx); err != nil && ctx.Err() == nil {
		log.Warn("directory check at start failed; hpcgate check-config -connect repeats it",
			"url", cfg.LDAP.URL, "err", err)
	}
}

func newLogger(w interface{ Write([]byte) (int, error) }, format, level string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// cookieSecret reads the cookie secret, creating it (32 random bytes, mode
// 0600) on first start. A file others can read is refused.
func cookieSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b = make([]byte, 32)
		rand.Read(b)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, fmt.Errorf("create cookie secret: %w", err)
		}
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cookie secret: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("cookie secret %s is readable by others (mode %v): chmod 600 it", path, fi.Mode().Perm())
	}
	if len(b) < 32 {
		return nil, fmt.Errorf("cookie secret %s: %d bytes, need at least 32", path, len(b))
	}
	return b, nil
}

func newAuthenticator(cfg *config.Config, log *slog.Logger) (*ldapauth.Authenticator, error) {
	l := cfg.LDAP
	var ca, pw []byte
	var err error
	if l.CAFile != "" {
		if ca, err = os.ReadFile(l.CAFile); err != nil {
			return nil, fmt.Errorf("ldap ca_file: %w", err)
		}
	}
	if l.BindPasswordFile != "" {
		if pw, err = os.ReadFile(l.BindPasswordFile); err != nil {
			return nil, fmt.Errorf("ldap bind_password_file: %w", err)
		}
	}
	// The accounts the hub itself logs in to the clusters as may never log
	// in to the hub (bind_dn's own name is added by ldapauth).
	var service []string
	for _, c := range cfg.Clusters {
		service = append(service, c.Login.ServiceUser)
	}
	ac, err := ldapauth.FromSite(l, ca, pw, service, log)
	if err != nil {
		return nil, err
	}
	if l.InsecureSkipVerify {
		log.Warn("ldap.insecure_skip_verify is on: the directory's certificate is not checked")
	}
	return ldapauth.New(ac)
}

// rightsDirectory is where the hub refreshes users' rights, or nil (with
// a warning saying why) when that is off.
func rightsDirectory(cfg *config.Config, auth *ldapauth.Authenticator, log *slog.Logger) gateway.Directory {
	switch {
	case cfg.LDAP.RefreshInterval == 0:
		log.Warn("ldap.refresh_interval is 0: rights are fixed at login; a user removed from the directory keeps sessions and tokens until they expire")
		return nil
	case !auth.CanRefresh():
		log.Warn("ldap: rights are fixed at login: " + ldapauth.ErrNoServiceBind.Error())
		return nil
	}
	return auth
}

// workshopDirectory is where workshops' rosters come from: the service
// account lists their groups' members. Without one, rosters are empty and
// the hub says so on the instructor page.
func workshopDirectory(cfg *config.Config, auth *ldapauth.Authenticator, log *slog.Logger) gateway.GroupDirectory {
	if len(cfg.Workshops) == 0 {
		return nil
	}
	if !auth.CanRefresh() {
		log.Warn("ldap: workshops need a service account to list their groups: " + ldapauth.ErrNoServiceBind.Error())
		return nil
	}
	return auth
}

// templatesFS is the embedded templates, or the site's directory laid over
// them file by file.
func templatesFS(cfg *config.Config) fs.FS {
	if cfg.Hub.TemplatesDir == "" {
		return templates.FS
	}
	return templates.Overlay(os.DirFS(cfg.Hub.TemplatesDir), templates.FS)
}
