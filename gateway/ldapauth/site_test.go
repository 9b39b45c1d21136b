package ldapauth

import (
	"reflect"
	"testing"
	"time"

	"hpcgate/gateway/config"
)

// TestFromSite: the site file's ldap section is taken whole, with the bind
// password file's contents (trailing newline dropped) and each service
// user once.
func TestFromSite(t *testing.T) {
	l := config.LDAP{URL: "ldap://dir:389", StartTLS: true, InsecureSkipVerify: true, BindDN: "cn=hub,dc=x",
		BindPasswordFile: "/etc/hpcgate/bind", UserBaseDN: "ou=people,dc=x", UserFilter: "(uid={username})", UsernameAttribute: "uid",
		GroupAttribute: "memberOf", GroupSearchBaseDN: "ou=groups,dc=x", GroupMemberAttribute: "member",
		AllowedGroups: []string{"cn=users"}, AdminGroups: []string{"cn=admins"}, AdminUsers: []string{"root2"},
		MinUID: 1000, UIDAttribute: "uidNumber", Timeout: config.Duration(7 * time.Second)}
	c, err := FromSite(l, nil, []byte("secret\n"), []string{"svc", "svc", "svc2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{LDAP: l, BindPassword: "secret", ServiceUsers: []string{"svc", "svc2"}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("FromSite:\n got %+v\nwant %+v", c, want)
	}
	if _, err := FromSite(l, []byte("not a certificate"), nil, nil, nil); err == nil {
		t.Error("a CA file without certificates was accepted")
	}
}
