package sshexec

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// skew is how far in the past a certificate becomes valid, so a login node
// whose clock runs a little behind the hub's still accepts it.
const skew = time.Minute

// userCert is a signed certificate for one login and its ephemeral key.
type userCert struct {
	cert    *ssh.Certificate
	signer  ssh.Signer // authenticates with cert
	renewAt time.Time  // two thirds of its life: new connections get a fresh one from here
	expires time.Time  // ValidBefore
}

// certCache signs short-lived user certificates with the site's user CA and
// reuses each until it is due for renewal, so reconnects do not sign anew.
type certCache struct {
	ca       ssh.Signer
	lifetime time.Duration
	now      func() time.Time // time.Now; tests move it

	mu     sync.Mutex
	serial uint64
	certs  map[string]*userCert
}

func newCertCache(ca ssh.Signer, lifetime time.Duration) *certCache {
	// Serials only need to differ between certificates (they appear in the
	// login node's logs); starting from the clock keeps them distinct across
	// hub restarts too.
	return &certCache{
		ca: ca, lifetime: lifetime, now: time.Now,
		serial: uint64(time.Now().Unix()) << 16, certs: map[string]*userCert{},
	}
}

// get returns login's current certificate, signing a new one when there is
// none or the cached one is due for renewal.
func (cc *certCache) get(login string) (*userCert, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	now := cc.now()
	if c := cc.certs[login]; c != nil && now.Before(c.renewAt) {
		return c, nil
	}
	for l, c := range cc.certs {
		if !now.Before(c.expires) {
			delete(cc.certs, l)
		}
	}
	cc.serial++
	c, err := signUserCert(cc.ca, login, cc.serial, now, cc.lifetime)
	if err != nil {
		return nil, fmt.Errorf("certificate for %s: %w", login, err)
	}
	cc.certs[login] = c
	return c, nil
}

// signUserCert makes an ephemeral ed25519 key and a user certificate for it:
// principal login, valid from a minute ago for lifetime, allowing port
// forwarding (tunnels) and nothing else interactive (no pty, agent or X11).
func signUserCert(ca ssh.Signer, login string, serial uint64, now time.Time, lifetime time.Duration) (*userCert, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	key, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	expires := now.Add(lifetime)
	cert := &ssh.Certificate{
		Key:             sshPub,
		Serial:          serial,
		CertType:        ssh.UserCert,
		KeyId:           fmt.Sprintf("hpcgate:%s:%d", login, serial),
		ValidPrincipals: []string{login},
		ValidAfter:      uint64(now.Add(-skew).Unix()),
		ValidBefore:     uint64(expires.Unix()),
		Permissions: ssh.Permissions{
			Extensions: map[string]string{"permit-port-forwarding": ""},
		},
	}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		return nil, fmt.Errorf("sign with the user CA: %w", err)
	}
	signer, err := ssh.NewCertSigner(cert, key)
	if err != nil {
		return nil, err
	}
	// ValidBefore has whole seconds: that is the expiry the server enforces.
	expires = time.Unix(int64(cert.ValidBefore), 0)
	return &userCert{
		cert:    cert,
		signer:  signer,
		renewAt: now.Add(expires.Sub(now) * 2 / 3),
		expires: expires,
	}, nil
}
