// Package ldaptest gives tests their own entries in the loopback cluster's
// slapd (testdata/cluster/ldap.sh): users with unique names, made and
// changed as the directory's rootdn and deleted when the test ends, so
// that tests which change rights never touch the shared users (alice, bob,
// carol, dave) other tests log in as.
package ldaptest

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"hpcgate/batch/batchtest"
	"hpcgate/gateway/config"
	"hpcgate/gateway/ldapauth"
)

// The rootdn and password ldap.sh gives the test slapd (slapd.conf.in's
// rootpw is slappasswd -s admin-pass).
const (
	adminPassword = "admin-pass"
	adminRDN      = "cn=admin"
)

// Directory is the cluster's slapd.
type Directory struct {
	URL    string // ldap://, StartTLS
	Base   string
	BindDN string // the hub's service account
	BindPW string
	// BindPWFile holds BindPW.
	BindPWFile string
	Roots      *x509.CertPool
}

// Load reads the directory's settings from cluster.env.
func Load(t testing.TB) *Directory {
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
	return &Directory{URL: c.Get(t, "LDAP_URL"), Base: c.Get(t, "LDAP_BASE_DN"),
		BindDN: c.Get(t, "LDAP_BIND_DN"), BindPW: strings.TrimSpace(string(pw)),
		BindPWFile: c.Get(t, "LDAP_BIND_PASSWORD_FILE"), Roots: roots}
}

// Group is the DN of the cluster's group cn.
func (d *Directory) Group(cn string) string { return "cn=" + cn + ",ou=groups," + d.Base }

// Person is the DN of user uid.
func (d *Directory) Person(uid string) string { return "uid=" + uid + ",ou=people," + d.Base }

// DisabledFilter is the user_filter of a site that disables accounts the
// way `usermod -e 1` does, with shadowExpire=1: see Disable.
const DisabledFilter = "(&(uid={username})(!(shadowExpire=1)))"

// Config is a search-mode StartTLS configuration as the loopback site has
// it: hpc-users may log in, hpc-admins are admins, uids from 1000, and
// disabled accounts (DisabledFilter) are not found.
func (d *Directory) Config() ldapauth.Config {
	return ldapauth.Config{
		LDAP: config.LDAP{
			URL: d.URL, StartTLS: true,
			BindDN: d.BindDN, BindPasswordFile: d.BindPWFile,
			UserBaseDN: "ou=people," + d.Base, UserFilter: DisabledFilter,
			AllowedGroups: []string{d.Group("hpc-users")}, AdminGroups: []string{d.Group("hpc-admins")},
			MinUID: 1000,
		},
		RootCAs: d.Roots, BindPassword: d.BindPW,
	}
}

func (d *Directory) admin(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL(d.URL)
	if err != nil {
		t.Fatalf("connect to %s: %v", d.URL, err)
	}
	if err := c.Bind(adminRDN+","+d.Base, adminPassword); err != nil {
		c.Close()
		t.Fatalf("bind as the directory's rootdn: %v", err)
	}
	return c
}

// NewUser adds a user sec-<random> with a random password, the given
// uidNumber (negative: none, not a posixAccount) and groups (cns), and
// deletes it (and its group memberships) when the test ends.
func (d *Directory) NewUser(t testing.TB, uidNumber int, groups ...string) (name, password string) {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name, password = "sec-"+hex.EncodeToString(b[:3]), hex.EncodeToString(b)+"-pw"
	add := ldap.NewAddRequest(d.Person(name), nil)
	classes := []string{"inetOrgPerson"}
	if uidNumber >= 0 {
		classes = append(classes, "posixAccount")
		add.Attribute("uidNumber", []string{strconv.Itoa(uidNumber)})
		add.Attribute("gidNumber", []string{"2100"})
		add.Attribute("homeDirectory", []string{"/home/" + name})
	}
	add.Attribute("objectClass", classes)
	add.Attribute("uid", []string{name})
	add.Attribute("cn", []string{"Security test " + name})
	add.Attribute("sn", []string{name})
	add.Attribute("userPassword", []string{password})
	c := d.admin(t)
	defer c.Close()
	if err := c.Add(add); err != nil {
		t.Fatalf("add %s: %v", name, err)
	}
	t.Cleanup(func() {
		c := d.admin(t)
		defer c.Close()
		for _, g := range []string{"hpc-users", "hpc-admins", "workshop"} {
			d.modifyGroup(c, name, g, false) // not a member: nothing to do
		}
		if err := c.Del(ldap.NewDelRequest(d.Person(name), nil)); err != nil {
			t.Errorf("delete test user %s: %v", name, err)
		}
	})
	for _, g := range groups {
		d.AddToGroup(t, name, g)
	}
	return name, password
}

// AddToGroup adds user to group cn.
func (d *Directory) AddToGroup(t testing.TB, user, cn string) {
	t.Helper()
	c := d.admin(t)
	defer c.Close()
	if err := d.modifyGroup(c, user, cn, true); err != nil {
		t.Fatalf("add %s to %s: %v", user, cn, err)
	}
}

// RemoveFromGroup removes user from group cn.
func (d *Directory) RemoveFromGroup(t testing.TB, user, cn string) {
	t.Helper()
	c := d.admin(t)
	defer c.Close()
	if err := d.modifyGroup(c, user, cn, false); err != nil {
		t.Fatalf("remove %s from %s: %v", user, cn, err)
	}
}

// modifyGroup adds or deletes one member value: other tests' members of
// the same group are untouched.
func (d *Directory) modifyGroup(c *ldap.Conn, user, cn string, add bool) error {
	m := ldap.NewModifyRequest(d.Group(cn), nil)
	if add {
		m.Add("member", []string{d.Person(user)})
	} else {
		m.Delete("member", []string{d.Person(user)})
	}
	return c.Modify(m)
}

// Disable expires the account as `usermod -e 1` would (shadowExpire: 1),
// which DisabledFilter excludes.
func (d *Directory) Disable(t testing.TB, user string) {
	t.Helper()
	c := d.admin(t)
	defer c.Close()
	m := ldap.NewModifyRequest(d.Person(user), nil)
	m.Add("objectClass", []string{"shadowAccount"})
	m.Add("shadowExpire", []string{"1"})
	if err := c.Modify(m); err != nil {
		t.Fatalf("disable %s: %v", user, err)
	}
}
