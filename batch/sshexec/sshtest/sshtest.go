// Package sshtest connects tests to the loopback cluster's login node
// with a real sshexec pool, configured as cmd configures the hub's.
package sshtest

import (
	"log/slog"
	"testing"

	"hpcgate/batch/batchtest"
	"hpcgate/batch/sshexec"
)

// Pool connects to the loopback cluster's login node in mode, as the
// hub does (cmd wires the same pieces from the site config).
func Pool(t testing.TB, c batchtest.Cluster, mode sshexec.Mode) *sshexec.Pool {
	t.Helper()
	known, addr := c.Get(t, "SSH_KNOWN_HOSTS"), c.Get(t, "SSH_ADDR")
	hostKeys, err := sshexec.LoadKnownHosts(known)
	if err != nil {
		t.Fatal(err)
	}
	algos, err := sshexec.KnownHostAlgorithms(known, addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := sshexec.Config{
		Addr:              addr,
		HostKeyCallback:   hostKeys,
		HostKeyAlgorithms: algos,
		Mode:              mode,
		ServiceUser:       c.Get(t, "SSH_SERVICE_USER"),
		Logger:            slog.New(slog.DiscardHandler),
	}
	key := "SSH_SERVICE_KEY"
	if mode == sshexec.ModeCertificate {
		key = "SSH_USER_CA"
	}
	signer, err := sshexec.LoadSigner(c.Get(t, key))
	if err != nil {
		t.Fatal(err)
	}
	if mode == sshexec.ModeCertificate {
		cfg.CASigner = signer
	} else {
		cfg.ServiceSigner = signer
	}
	pool, err := sshexec.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	return pool
}
