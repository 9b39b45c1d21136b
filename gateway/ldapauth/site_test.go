package ldapauth

import (
	"reflect"
	"testing"
	"time"

	"hpcgate/gateway/config"
)

// TestFromSite: every setting of the site file's ldap section reaches
// Config, so a new key cannot be forgotten in one of two copies.
func TestFromSite(t *testing.T) {
	l := config.LDAP{URL: "ldap://dir:389", StartTLS: true, InsecureSkipVerify: true, BindDN: "cn=hub,dc=x",
		UserBaseDN: "ou=people,dc=x", UserFilter: "(uid={username})", UsernameAttribute: "uid",
		GroupAttribute: "memberOf", GroupSearchBaseDN: "ou=groups,dc=x", GroupMemberAttribute: "member",
		AllowedGroups: []string{"cn=users"}, AdminGroups: []string{"cn=admins"}, AdminUsers: []string{"root2"},
		MinUID: 1000, UIDAttribute: "uidNumber", Timeout: config.Duration(7 * time.Second)}
	c, err := FromSite(l, nil, []byte("secret\n"), []string{"svc", "svc", "svc2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{URL: l.URL, StartTLS: true, InsecureSkipVerify: true, BindDN: l.BindDN, BindPassword: "secret",
		UserBaseDN: l.UserBaseDN, UserFilter: l.UserFilter, UsernameAttribute: "uid",
		GroupAttribute: "memberOf", GroupSearchBaseDN: l.GroupSearchBaseDN, GroupMemberAttribute: "member",
		AllowedGroups: l.AllowedGroups, AdminGroups: l.AdminGroups, AdminUsers: l.AdminUsers,
		MinUID: 1000, UIDAttribute: "uidNumber", Timeout: 7 * time.Second, ServiceUsers: []string{"svc", "svc2"}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("FromSite:\n got %+v\nwant %+v", c, want)
	}
	if _, err := FromSite(l, []byte("not a certificate"), nil, nil, nil); err == nil {
		t.Error("a CA file without certificates was accepted")
	}
}
