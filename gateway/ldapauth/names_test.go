package ldapauth

import (
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestNormalizeUsername(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" means refused
	}{
		{"alice", "alice"},
		{"Alice", "alice"},
		{"  bob\t", "bob"},
		{"first.last", "first.last"},
		{"_svc", "_svc"},
		{"a-b_c9", "a-b_c9"},
		{strings.Repeat("a", 32), strings.Repeat("a", 32)},
		{strings.Repeat("a", 33), ""},
		{"", ""},
		{"*", ""},
		{"alice*", ""},
		{"alice)(uid=*", ""},
		{"alice,ou=x", ""},
		{"uid=alice,ou=people,dc=example,dc=org", ""},
		{"al ice", ""},
		{"alice\x00", ""},
		{"ålice", ""},
		{"\u212Aarl", ""}, // KELVIN SIGN, whose Unicode lower case is 'k'
		{"1alice", ""},
		{"-alice", ""},
		{".alice", ""},
		{"alice$", ""},
		{"alice\\", ""},
	}
	for _, tt := range tests {
		got, ok := NormalizeUsername(tt.in)
		if ok != (tt.want != "") || got != tt.want {
			t.Errorf("NormalizeUsername(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.want != "")
		}
	}
}

func TestEscapeRDNValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice", "alice"},
		{"", ""},
		{"a,b", `a\,b`},
		{"a+b", `a\+b`},
		{`"q"`, `\"q\"`},
		{`a\b`, `a\\b`},
		{"<a>;", `\<a\>\;`},
		{"a=b", `a\=b`},
		{" a", `\ a`},
		{"a ", `a\ `},
		{"  a b  ", `\ \ a b\ \ `},
		{"   ", `\ \ \ `},
		{"#a#", `\#a#`},
		{"\x00", `\00`},
		{"a\nb\x7f", `a\0Ab\7F`},
		{"\xff", `\FF`},
		{"é∑", "é∑"},
		{"alice,ou=x", `alice\,ou\=x`},
	}
	for _, tt := range tests {
		if got := EscapeRDNValue(tt.in); got != tt.want {
			t.Errorf("EscapeRDNValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
		checkRoundTrip(t, tt.in)
	}
}

// checkRoundTrip checks that an escaped value parses back, as go-ldap's
// DN parser reads it, into one RDN holding exactly the original value.
func checkRoundTrip(t *testing.T, v string) {
	t.Helper()
	dn := "uid=" + EscapeRDNValue(v) + ",ou=people,dc=example,dc=org"
	parsed, err := ldap.ParseDN(dn)
	if err != nil {
		t.Fatalf("ParseDN(%q) (value %q): %v", dn, v, err)
	}
	if len(parsed.RDNs) != 4 || len(parsed.RDNs[0].Attributes) != 1 {
		t.Fatalf("value %q: %q parses into %d RDNs, the first with %d attributes; want 4 and 1",
			v, dn, len(parsed.RDNs), len(parsed.RDNs[0].Attributes))
	}
	if a := parsed.RDNs[0].Attributes[0]; a.Type != "uid" || a.Value != v {
		t.Fatalf("value %q: %q parses back as %s=%q", v, dn, a.Type, a.Value)
	}
}

func FuzzEscapeRDNValue(f *testing.F) {
	for _, s := range []string{"alice", " ,+\"\\<>;=# ", "#", "\x00\x01", "\xff\xfe", "a\u00a0 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		checkRoundTrip(t, v)
	})
}

func TestInAny(t *testing.T) {
	const users = "cn=hpc-users,ou=groups,dc=example,dc=org"
	tests := []struct {
		group, configured string
		want              bool
	}{
		{users, users, true},
		{users, "CN=HPC-Users,OU=Groups,DC=Example,DC=ORG", true},
		{users, "cn=hpc-users, ou=groups , dc=example,dc=org", true},
		{"cn = hpc-users,ou=groups,dc=example,dc=org", users, true},
		{`cn=hpc\2Dusers,ou=groups,dc=example,dc=org`, users, true}, // hex-escaped '-'
		{users, "cn=hpc-users-old,ou=groups,dc=example,dc=org", false},
		{users, "cn=hpc-users,ou=groups,dc=example,dc=com", false},
		{users, "cn=hpc-users,dc=example,dc=org", false},
		{users, "uid=hpc-users,ou=groups,dc=example,dc=org", false},
	}
	for _, tt := range tests {
		g, err := ldap.ParseDN(tt.group)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ldap.ParseDN(tt.configured)
		if err != nil {
			t.Fatal(err)
		}
		if got := inAny([]*ldap.DN{g}, []*ldap.DN{c}); got != tt.want {
			t.Errorf("group %q in [%q] = %v, want %v", tt.group, tt.configured, got, tt.want)
		}
	}
	if inAny(nil, nil) {
		t.Error("inAny(nil, nil) = true")
	}
}

// TestBindName: the login name a service account's DN implies, refused
// at login; nothing for DNs that name no account.
func TestBindName(t *testing.T) {
	for _, tc := range []struct{ dn, want string }{
		{"cn=hpcgate,ou=services,dc=example,dc=org", "hpcgate"},
		{"uid=svc-hub,ou=people,dc=example,dc=org", "svc-hub"},
		{"CN=HubSearch,OU=Services,DC=example,DC=org", "hubsearch"},
		{"cn=Directory Manager", ""},          // not a user name
		{"ou=services,dc=example,dc=org", ""}, // not an account
		{"cn=a+uid=b,dc=example,dc=org", ""},  // multi-valued RDN: ambiguous
		{"", ""},
	} {
		if got := bindName(tc.dn, "uid"); got != tc.want {
			t.Errorf("bindName(%q) = %q, want %q", tc.dn, got, tc.want)
		}
	}
}
