package slurm

import (
	"log/slog"
	"testing"

	"hpcgate/batch"
	"hpcgate/batch/batchtest"
	"hpcgate/batch/sshexec"
)

// newPool connects to the loopback cluster's login node in mode, as the
// hub does (cmd wires the same pieces from the site config).
func newPool(t testing.TB, c batchtest.Cluster, mode sshexec.Mode) *sshexec.Pool {
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

// TestConformance runs the shared scheduler suite against the loopback
// cluster's Slurm through its real sshd, in both ways of acting as a user.
func TestConformance(t *testing.T) {
	c := batchtest.LoadCluster(t)
	for _, mode := range []sshexec.Mode{sshexec.ModeCertificate, sshexec.ModeSudo} {
		t.Run(string(mode), func(t *testing.T) {
			pool := newPool(t, c, mode)
			batchtest.Conformance(t, func(t *testing.T, exec batch.Executor) batch.Scheduler {
				return New(exec, Options{})
			}, batchtest.Options{
				Executor:          pool,
				Dial:              pool.DialContext,
				Partition:         "debug",
				BadPartitionWords: "Invalid partition name specified",
				UnknownID:         "999999999",
				HoldReason:        "JobHeldUser",
			})
		})
	}
}
