package ldaptest

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// NewGroup adds a group ws-<random> (groupOfNames) with members (user
// names, at least one: the schema wants one) and returns its DN; it is
// deleted when the test ends. Call it after NewUser for its members, so
// the group goes before they do.
func (d *Directory) NewGroup(t testing.TB, members ...string) string {
	t.Helper()
	if len(members) == 0 {
		t.Fatal("NewGroup: a groupOfNames needs a member")
	}
	b := make([]byte, 3)
	rand.Read(b)
	cn := "ws-" + hex.EncodeToString(b)
	add := ldap.NewAddRequest(d.Group(cn), nil)
	add.Attribute("objectClass", []string{"groupOfNames"})
	add.Attribute("cn", []string{cn})
	dns := make([]string, len(members))
	for i, m := range members {
		dns[i] = d.Person(m)
	}
	add.Attribute("member", dns)
	c := d.admin(t)
	defer c.Close()
	if err := c.Add(add); err != nil {
		t.Fatalf("add group %s: %v", cn, err)
	}
	t.Cleanup(func() {
		c := d.admin(t)
		defer c.Close()
		if err := c.Del(ldap.NewDelRequest(d.Group(cn), nil)); err != nil {
			t.Errorf("delete test group %s: %v", cn, err)
		}
	})
	return d.Group(cn)
}
