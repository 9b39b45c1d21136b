package ldapauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hpcgate/batch/batchtest"
)

// directory is the loopback cluster's slapd, as cluster.env describes it
// (testdata/cluster/ldap.sh and ldap-data.ldif.in).
type directory struct {
	ldapURL, ldapsURL string
	roots             *x509.CertPool
	base              string
	bindDN, bindPW    string
	bindPWFile        string
}

func loadDirectory(t *testing.T) directory {
	t.Helper()
	c := batchtest.LoadCluster(t)
	pem, err := os.ReadFile(c.Get(t, "LDAP_CA_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", c.Get(t, "LDAP_CA_FILE"))
	}
	pw, err := os.ReadFile(c.Get(t, "LDAP_BIND_PASSWORD_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	return directory{
		ldapURL:    c.Get(t, "LDAP_URL"),
		ldapsURL:   c.Get(t, "LDAPS_URL"),
		roots:      roots,
		base:       c.Get(t, "LDAP_BASE_DN"),
		bindDN:     c.Get(t, "LDAP_BIND_DN"),
		bindPW:     strings.TrimSpace(string(pw)),
		bindPWFile: c.Get(t, "LDAP_BIND_PASSWORD_FILE"),
	}
}

func (d directory) group(cn string) string { return "cn=" + cn + ",ou=groups," + d.base }
func (d directory) person(uid string) string {
	return "uid=" + uid + ",ou=people," + d.base
}

// transport is one way of reaching the directory over TLS.
type transport struct {
	name  string
	apply func(*Config)
}

func (d directory) template() func(*Config) { return d.modes()[1].apply }

func (d directory) transports() []transport {
	return []transport{
		{"starttls", func(c *Config) { c.URL, c.StartTLS, c.RootCAs = d.ldapURL, true, d.roots }},
		{"ldaps", func(c *Config) { c.URL, c.StartTLS, c.RootCAs = d.ldapsURL, false, d.roots }},
	}
}

// mode is one way of finding the user's DN.
type mode struct {
	name  string
	apply func(*Config)
}

func (d directory) modes() []mode {
	return []mode{
		{"search", func(c *Config) {
			c.BindDN, c.BindPasswordFile, c.BindPassword, c.UserBaseDN = d.bindDN, d.bindPWFile, d.bindPW, "ou=people,"+d.base
			c.DNTemplate = ""
		}},
		{"template", func(c *Config) {
			c.BindDN, c.BindPasswordFile, c.BindPassword, c.UserBaseDN = "", "", "", ""
			c.DNTemplate = "uid={username},ou=people," + d.base
		}},
	}
}

// config is the search-mode, StartTLS configuration, changed by fns (nil
// ones skipped).
func (d directory) config(fns ...func(*Config)) Config {
	cfg := Config{Logger: quiet()}
	d.transports()[0].apply(&cfg)
	d.modes()[0].apply(&cfg)
	for _, fn := range fns {
		if fn != nil {
			fn(&cfg)
		}
	}
	return cfg
}

func newAuth(t *testing.T, cfg Config) *Authenticator {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// otherCA returns a pool holding only a freshly made CA that signed nothing.
func otherCA(t *testing.T) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "not the directory's CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// forwarder relays loopback TCP connections to the directory so that a
// test can break them the way a restart or a firewall would.
type forwarder struct {
	ln       net.Listener
	target   string
	mu       sync.Mutex
	accepted int
	links    []*link
}

type link struct {
	client, server net.Conn
	silent         atomic.Bool // drop everything, answer nothing
}

func newForwarder(t *testing.T, target string) *forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{ln: ln, target: target}
	t.Cleanup(func() {
		ln.Close()
		f.cut(false)
	})
	go f.serve()
	return f
}

func (f *forwarder) addr() string { return f.ln.Addr().String() }

func (f *forwarder) serve() {
	for {
		client, err := f.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", f.target)
		if err != nil {
			client.Close()
			continue
		}
		l := &link{client: client, server: server}
		f.mu.Lock()
		f.accepted++
		f.links = append(f.links, l)
		f.mu.Unlock()
		go l.relay(server, client)
		go l.relay(client, server)
	}
}

func (l *link) relay(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if l.silent.Load() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// connections returns how many connections were relayed so far.
func (f *forwarder) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accepted
}

// cut breaks every relayed connection: closes both sides, or, if silent,
// keeps them open and drops everything, as a lost NAT entry would.
func (f *forwarder) cut(silent bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range f.links {
		if silent {
			l.silent.Store(true)
			continue
		}
		l.client.Close()
		l.server.Close()
	}
	if !silent {
		f.links = nil
	}
}

// silentServer accepts connections and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}
