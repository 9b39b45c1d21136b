package main

import (
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"time"

	"hpcgate/batch"
	"hpcgate/batch/schedulers"
	"hpcgate/batch/sshexec"
	"hpcgate/gateway"
	"hpcgate/gateway/config"
	"hpcgate/gateway/proxy"
)

// openClusters connects the hub to each configured cluster: one pooled SSH
// connection per login node and a scheduler speaking over it.
func openClusters(cfg *config.Config, templates fs.FS, log *slog.Logger) (map[string]*gateway.Cluster, func(), error) {
	out := map[string]*gateway.Cluster{}
	var pools []*sshexec.Pool
	closeAll := func() {
		for _, p := range pools {
			p.Close()
		}
	}
	for i := range cfg.Clusters {
		c := &cfg.Clusters[i]
		pool, err := openPool(c, log.With("cluster", c.Name))
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("cluster %q: %w", c.Name, err)
		}
		pools = append(pools, pool)
		sched, err := newScheduler(c, pool, templates, log.With("cluster", c.Name))
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("cluster %q: %w", c.Name, err)
		}
		out[c.Name] = &gateway.Cluster{Config: c, Scheduler: sched, Exec: pool, Dial: appDialer(c, pool)}
	}
	return out, closeAll, nil
}

// appDialer is how the proxy and the readiness probe reach c's apps:
// through the login node's sshd, or straight to the node with proxy:
// direct. Which node is the job's own is checked before either is asked.
func appDialer(c *config.Cluster, pool *sshexec.Pool) proxy.DialFunc {
	if c.Proxy == config.ProxyDirect {
		d := &net.Dialer{KeepAlive: 30 * time.Second}
		return d.DialContext
	}
	return pool.DialContext
}

// newScheduler builds c's scheduler from the table config.Load checked c
// against, running its commands over exec.
func newScheduler(c *config.Cluster, exec batch.Executor, templates fs.FS, log *slog.Logger) (batch.Scheduler, error) {
	for _, k := range schedulers.Kinds {
		if k.Name == c.Scheduler {
			return k.New(exec, batch.Site{
				BinDir: c.BinDir, Templates: templates, Location: c.Location(), Options: c.SchedulerOptions.Value(),
				Logger: log,
			})
		}
	}
	return nil, fmt.Errorf("unknown scheduler %q", c.Scheduler)
}

func openPool(c *config.Cluster, log *slog.Logger) (*sshexec.Pool, error) {
	hostKeys, err := sshexec.LoadKnownHosts(c.Login.KnownHosts)
	if err != nil {
		return nil, err
	}
	algos, err := sshexec.KnownHostAlgorithms(c.Login.KnownHosts, c.Login.Addr())
	if err != nil {
		return nil, err
	}
	pc := sshexec.Config{
		Addr:              c.Login.Addr(),
		HostKeyCallback:   hostKeys,
		HostKeyAlgorithms: algos,
		Mode:              sshexec.Mode(c.Login.Auth),
		CertLifetime:      time.Duration(c.Login.CertificateLifetime),
		ServiceUser:       c.Login.ServiceUser,
		MaxSessions:       c.Login.MaxSessions,
		KeepAlive:         time.Duration(c.Login.Keepalive),
		ConnectTimeout:    time.Duration(c.Login.ConnectTimeout),
		Logger:            log,
	}
	switch pc.Mode {
	case sshexec.ModeCertificate:
		if pc.CASigner, err = sshexec.LoadSigner(c.Login.UserCAKey); err != nil {
			return nil, err
		}
	case sshexec.ModeSudo:
		if pc.ServiceSigner, err = sshexec.LoadSigner(c.Login.ServiceKey); err != nil {
			return nil, err
		}
	}
	return sshexec.New(pc)
}
