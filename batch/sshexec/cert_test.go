package sshexec

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"hpcgate/batch"
)

func TestSignUserCert(t *testing.T) {
	ca, err := writeKey(filepath.Join(t.TempDir(), "ca"), "ca")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	c, err := signUserCert(ca, "alice", 42, now, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	cert := c.cert
	if cert.KeyId != "hpcgate:alice:42" || cert.Serial != 42 || cert.CertType != ssh.UserCert {
		t.Errorf("key id %q serial %d type %d, want hpcgate:alice:42, 42, user", cert.KeyId, cert.Serial, cert.CertType)
	}
	if got, want := time.Unix(int64(cert.ValidAfter), 0), now.Add(-time.Minute); !got.Equal(want) {
		t.Errorf("valid after %s, want a minute early (%s)", got, want)
	}
	if got, want := time.Unix(int64(cert.ValidBefore), 0), now.Add(10*time.Minute); !got.Equal(want) || !c.expires.Equal(want) {
		t.Errorf("valid before %s (expires %s), want %s", got, c.expires, want)
	}
	if want := now.Add(10 * time.Minute * 2 / 3); !c.renewAt.Equal(want) {
		t.Errorf("renew at %s, want two thirds of the lifetime (%s)", c.renewAt, want)
	}
	if len(cert.Extensions) != 1 || cert.CriticalOptions != nil {
		t.Errorf("extensions %v, critical options %v: want permit-port-forwarding alone", cert.Extensions, cert.CriticalOptions)
	}
	if _, ok := cert.Extensions["permit-port-forwarding"]; !ok {
		t.Error("no permit-port-forwarding: tunnels as the user would be refused")
	}
	if !bytes.Equal(c.signer.PublicKey().Marshal(), cert.Marshal()) {
		t.Error("the signer does not present the certificate")
	}
	checker := &ssh.CertChecker{
		IsUserAuthority: func(k ssh.PublicKey) bool { return bytes.Equal(k.Marshal(), ca.PublicKey().Marshal()) },
		Clock:           func() time.Time { return now },
	}
	if err := checker.CheckCert("alice", cert); err != nil {
		t.Errorf("sshd's checks refuse it for alice: %v", err)
	}
	if err := checker.CheckCert("bob", cert); err == nil {
		t.Error("the certificate is valid for bob too")
	}
	checker.Clock = func() time.Time { return c.expires }
	if err := checker.CheckCert("alice", cert); err == nil {
		t.Error("the certificate is still valid at its expiry")
	}
}

func TestCertCache(t *testing.T) {
	ca, err := writeKey(filepath.Join(t.TempDir(), "ca"), "ca")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	cc := newCertCache(ca, 3*time.Minute)
	cc.now = func() time.Time { return now }
	get := func(login string) *userCert {
		c, err := cc.get(login)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a1, b1 := get("alice"), get("bob")
	if a1 == b1 || a1.cert.ValidPrincipals[0] != "alice" || b1.cert.ValidPrincipals[0] != "bob" {
		t.Fatal("users share a certificate")
	}
	now = now.Add(time.Minute + 59*time.Second)
	if get("alice") != a1 {
		t.Error("a certificate was re-signed before two thirds of its life")
	}
	now = now.Add(time.Second)
	a2 := get("alice")
	if a2 == a1 || a2.cert.Serial <= a1.cert.Serial {
		t.Errorf("at two thirds of its life: serial %d after %d, want a new certificate", a2.cert.Serial, a1.cert.Serial)
	}
	now = now.Add(2 * time.Minute)
	get("alice")
	if _, ok := cc.certs["bob"]; ok {
		t.Error("bob's expired certificate is still cached")
	}
}

// TestCertificateRenewal uses 3-second certificates: a connection is
// replaced at two thirds of its certificate's life, a command running across
// the renewal finishes on the old connection, and no session or tunnel is
// ever opened with a certificate past its expiry.
func TestCertificateRenewal(t *testing.T) {
	n := newLoginNode(t)
	cfg := n.config(t, ModeCertificate)
	cfg.CertLifetime = 3 * time.Second
	p := newPool(t, cfg)
	type use struct {
		keyID   string
		expires time.Time
		at      time.Time
	}
	var mu sync.Mutex
	var uses []use
	p.hooks.opened = func(cl *client, at time.Time) {
		mu.Lock()
		uses = append(uses, use{cl.keyID, cl.expires, at})
		mu.Unlock()
	}
	run := func(argv ...string) error {
		_, err := p.Run(context.Background(), batch.Command{User: "alice", Argv: argv})
		return err
	}
	if err := run("true"); err != nil {
		t.Fatal(err)
	}
	across := make(chan error, 1)
	go func() { across <- run("sleep", "4") }()

	waitFor(t, "the certificate's renewal", func() bool { return p.Stats().Renewals == 1 })
	if err := run("true"); err != nil {
		t.Fatalf("command after the renewal: %v", err)
	}
	if err := <-across; err != nil {
		t.Errorf("command running across the renewal: %v", err)
	}
	waitFor(t, "the old connection to close", func() bool { return p.Stats().OpenConns == 1 })
	// Keep using the pool until the second certificate is renewed too.
	for p.Stats().Renewals < 2 {
		if err := run("true"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := run("true"); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	ids := map[string]bool{}
	for _, u := range uses {
		ids[u.keyID] = true
		if !u.at.Before(u.expires) {
			t.Errorf("session opened at %s with certificate %s, which expired at %s", u.at.Format(time.StampMilli), u.keyID, u.expires.Format(time.StampMilli))
		}
	}
	if len(ids) != 3 {
		t.Errorf("sessions used certificates %v, want 3", ids)
	}
	logged := map[string]bool{}
	for _, m := range regexp.MustCompile(`Accepted publickey for alice .* ID (hpcgate:alice:\d+) `).FindAllStringSubmatch(n.Log(), -1) {
		logged[m[1]] = true
	}
	for id := range ids {
		if !logged[id] {
			t.Errorf("sshd did not log a login with certificate %s (it logged %v)", id, logged)
		}
	}
	if st := p.Stats(); st.Handshakes != 3 || st.Reconnects != 0 {
		t.Errorf("stats %+v: want 3 handshakes, no reconnects", st)
	}
}
