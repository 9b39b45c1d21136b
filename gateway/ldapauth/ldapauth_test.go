package ldapauth

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"hpcgate/gateway/config"
)

func TestAuthenticate(t *testing.T) {
	d := loadDirectory(t)
	tests := []struct {
		name           string
		user, password string
		change         func(*Config) // on top of AllowedGroups hpc-users, AdminGroups hpc-admins
		wantErr        error
		wantName       string
		wantAdmin      bool
		wantGroups     []string // cns the user must be in
		wantDisplay    string
		wantEmail      string
	}{
		{name: "alice", user: "alice", password: "alice-pass", wantName: "alice",
			wantGroups: []string{"hpc-users"}, wantDisplay: "Alice Liddell", wantEmail: "alice@example.org"},
		{name: "upper-case name", user: " Alice", password: "alice-pass", wantName: "alice", wantGroups: []string{"hpc-users"},
			wantDisplay: "Alice Liddell", wantEmail: "alice@example.org"},
		{name: "bob", user: "bob", password: "bob-pass", wantName: "bob", wantGroups: []string{"hpc-users"},
			wantDisplay: "Bob Builder", wantEmail: "bob@example.org"},
		{name: "carol is admin", user: "carol", password: "carol-pass", wantName: "carol", wantAdmin: true,
			wantGroups: []string{"hpc-users", "hpc-admins"}, wantDisplay: "Carol Admin", wantEmail: "carol@example.org"},
		{name: "dave not allowed", user: "dave", password: "dave-pass", wantErr: ErrNotAllowed},
		{name: "dave allowed with workshop", user: "dave", password: "dave-pass",
			change:   func(c *Config) { c.AllowedGroups = append(c.AllowedGroups, d.group("workshop")) },
			wantName: "dave", wantGroups: []string{"workshop"}, wantDisplay: "Dave Student", wantEmail: "dave@example.org"},
		{name: "any group allowed", user: "dave", password: "dave-pass", change: func(c *Config) { c.AllowedGroups = nil },
			wantName: "dave", wantGroups: []string{"workshop"}, wantDisplay: "Dave Student", wantEmail: "dave@example.org"},
		{name: "group DNs compared without case", user: "carol", password: "carol-pass", change: func(c *Config) {
			c.AllowedGroups = []string{strings.ToUpper(d.group("hpc-users"))}
			c.AdminGroups = []string{"CN=HPC-Admins, OU=Groups, " + strings.ToUpper(d.base)}
		}, wantName: "carol", wantAdmin: true, wantGroups: []string{"hpc-admins"}, wantDisplay: "Carol Admin", wantEmail: "carol@example.org"},
		{name: "admin user", user: "bob", password: "bob-pass", change: func(c *Config) { c.AdminUsers = []string{"Bob"} },
			wantName: "bob", wantAdmin: true, wantGroups: []string{"hpc-users"}, wantDisplay: "Bob Builder", wantEmail: "bob@example.org"},
		{name: "admins are always allowed", user: "dave", password: "dave-pass", change: func(c *Config) { c.AdminUsers = []string{"dave"} },
			wantName: "dave", wantAdmin: true, wantGroups: []string{"workshop"}, wantDisplay: "Dave Student", wantEmail: "dave@example.org"},
		{name: "wrong password", user: "alice", password: "bob-pass", wantErr: ErrInvalidCredentials},
		{name: "wrong password of an admin", user: "carol", password: "alice-pass", wantErr: ErrInvalidCredentials},
		{name: "unknown user", user: "mallory", password: "alice-pass", wantErr: ErrInvalidCredentials},
		{name: "empty password", user: "alice", password: "", wantErr: ErrInvalidCredentials},
		{name: "wildcard", user: "*", password: "alice-pass", wantErr: ErrInvalidCredentials},
		{name: "filter injection", user: "alice)(uid=*", password: "alice-pass", wantErr: ErrInvalidCredentials},
		{name: "DN injection", user: "alice,ou=x", password: "alice-pass", wantErr: ErrInvalidCredentials},
		{name: "a whole DN", user: d.person("alice"), password: "alice-pass", wantErr: ErrInvalidCredentials},
		{name: "unicode", user: "ålice", password: "alice-pass", wantErr: ErrInvalidCredentials},
		{name: "NUL", user: "alice\x00", password: "alice-pass", wantErr: ErrInvalidCredentials},
	}
	for _, tr := range d.transports() {
		for _, m := range d.modes() {
			t.Run(tr.name+"/"+m.name, func(t *testing.T) {
				var log bytes.Buffer
				for _, tt := range tests {
					cfg := Config{
						LDAP: config.LDAP{
							AllowedGroups: []string{d.group("hpc-users")},
							AdminGroups:   []string{d.group("hpc-admins")},
						},
						Logger: slog.New(slog.NewTextHandler(&log, nil)),
					}
					tr.apply(&cfg)
					m.apply(&cfg)
					if tt.change != nil {
						tt.change(&cfg)
					}
					a := newAuth(t, cfg)
					u, err := a.Authenticate(context.Background(), tt.user, tt.password)
					if tt.wantErr != nil {
						if tt.wantErr == ErrInvalidCredentials && err != ErrInvalidCredentials {
							// Identity, not errors.Is: every refusal must read the same.
							t.Errorf("%s: Authenticate(%q) = %v, %v; want exactly ErrInvalidCredentials", tt.name, tt.user, u, err)
						} else if !errors.Is(err, tt.wantErr) {
							t.Errorf("%s: Authenticate(%q) = %v, %v; want %v", tt.name, tt.user, u, err, tt.wantErr)
						}
						if u != nil {
							t.Errorf("%s: got a user %+v with an error", tt.name, u)
						}
						if tt.password != "" && err != nil && strings.Contains(err.Error(), tt.password) {
							t.Errorf("%s: the error carries the password: %v", tt.name, err)
						}
						continue
					}
					if err != nil {
						t.Errorf("%s: Authenticate(%q): %v", tt.name, tt.user, err)
						continue
					}
					checkUser(t, d, tt.name, u, tt.wantName, tt.wantAdmin, tt.wantGroups)
					if u.DisplayName != tt.wantDisplay || u.Email != tt.wantEmail {
						t.Errorf("%s: display name %q, email %q; want %q, %q", tt.name, u.DisplayName, u.Email, tt.wantDisplay, tt.wantEmail)
					}
				}
				for _, tt := range tests {
					if tt.password != "" && strings.Contains(log.String(), tt.password) {
						t.Errorf("a password was logged:\n%s", log.String())
						break
					}
				}
			})
		}
	}
}

// checkUser checks u's name, DN, admin flag and that it is in every group
// of wantGroups (cns under ou=groups).
func checkUser(t *testing.T, d directory, what string, u *User, wantName string, wantAdmin bool, wantGroups []string) {
	t.Helper()
	if u.Name != wantName || u.Admin != wantAdmin {
		t.Errorf("%s: user %q admin %v; want %q admin %v", what, u.Name, u.Admin, wantName, wantAdmin)
	}
	if !sameDN(u.DN, d.person(wantName)) {
		t.Errorf("%s: DN %q, want %q", what, u.DN, d.person(wantName))
	}
	for _, g := range wantGroups {
		if !slices.ContainsFunc(u.Groups, func(have string) bool { return sameDN(have, d.group(g)) }) {
			t.Errorf("%s: groups %q lack %s", what, u.Groups, d.group(g))
		}
	}
}

func sameDN(a, b string) bool {
	da, errA := ldap.ParseDN(a)
	db, errB := ldap.ParseDN(b)
	return errA == nil && errB == nil && da.EqualFold(db)
}

// TestRefusalsLookAlike compares the refusals for a wrong password and an
// unknown user as a caller would see them.
func TestRefusalsLookAlike(t *testing.T) {
	d := loadDirectory(t)
	for _, m := range d.modes() {
		a := newAuth(t, d.config(m.apply))
		_, wrong := a.Authenticate(context.Background(), "alice", "not-alice-pass")
		_, unknown := a.Authenticate(context.Background(), "alicia", "not-alice-pass")
		_, empty := a.Authenticate(context.Background(), "alice", "")
		if wrong == nil || unknown == nil || empty == nil ||
			wrong != unknown || wrong.Error() != unknown.Error() || empty != wrong {
			t.Errorf("%s: wrong password %q, unknown user %q, empty password %q: want the same error", m.name, wrong, unknown, empty)
		}
	}
}

// TestEscaping skips the user-name check to show that escaping alone keeps
// hostile names from matching, or binding as, another user.
func TestEscaping(t *testing.T) {
	d := loadDirectory(t)
	ctx := context.Background()
	search := newAuth(t, d.config())
	// Unescaped, "*" matches every user, and "al*" and "a*e" find alice's
	// entry (where only the check of her uid against the name stops them).
	for _, name := range []string{"*", "al*", "a*e", "alice)(uid=*", "*)(|(uid=*", "alice\x00", "alice\\", "ålice"} {
		u, err := search.searchAndBind(ctx, name, "alice-pass")
		if r := refusal(""); !errors.As(err, &r) {
			t.Errorf("search mode, %q: %+v, %v; want a refusal", name, u, err)
		}
	}
	if _, err := search.searchAndBind(ctx, "alice", "alice-pass"); err != nil {
		t.Fatalf("search mode, the same path with a plain name: %v", err)
	}

	tmpl := newAuth(t, d.config(d.template()))
	// A refusal means the server parsed the DN and found no such entry; a
	// badly escaped DN would get invalidDNSyntax instead. (" alice " is
	// left out: slapd's uid matching ignores surrounding spaces, so it is
	// alice; NormalizeUsername trims them anyway.)
	for _, name := range []string{"alice,ou=x", "alice+uid=bob", `a"b`, `alice\`, "#alice", "alice;x", "<alice>", "alice=", "ålice"} {
		u, err := tmpl.bindTemplate(ctx, name, "alice-pass")
		if r := refusal(""); !errors.As(err, &r) {
			t.Errorf("template mode, %q: %+v, %v; want a refusal", name, u, err)
		}
	}
	if _, err := tmpl.bindTemplate(ctx, "alice", "alice-pass"); err != nil {
		t.Fatalf("template mode, the same path with a plain name: %v", err)
	}
}

// TestGroupSearch reads groups by searching them, as for a directory
// without memberOf: businessCategory stands for the missing attribute
// (it exists in the schema and no user has one).
func TestGroupSearch(t *testing.T) {
	d := loadDirectory(t)
	for _, m := range d.modes() {
		for _, groupBase := range []string{"ou=groups," + d.base, ""} {
			cfg := d.config(m.apply, func(c *Config) {
				c.GroupAttribute = "businessCategory"
				c.GroupSearchBaseDN = groupBase
				c.AllowedGroups = []string{d.group("hpc-users")}
				c.AdminGroups = []string{d.group("hpc-admins")}
			})
			a := newAuth(t, cfg)
			u, err := a.Authenticate(context.Background(), "carol", "carol-pass")
			if groupBase == "" {
				// Without the search carol has no groups at all.
				if !errors.Is(err, ErrNotAllowed) {
					t.Errorf("%s, no group search: %+v, %v; want ErrNotAllowed", m.name, u, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s, group search: %v", m.name, err)
				continue
			}
			checkUser(t, d, m.name, u, "carol", true, []string{"hpc-users", "hpc-admins"})
			if slices.ContainsFunc(u.Groups, func(g string) bool { return sameDN(g, d.group("workshop")) }) {
				t.Errorf("%s: carol's groups %q include workshop", m.name, u.Groups)
			}
		}
	}
}

func TestUnavailable(t *testing.T) {
	d := loadDirectory(t)
	ldapHost := hostPort(t, d.ldapURL)
	silent := silentServer(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		change func(*Config)
		check  func(error) error // more about the cause, or nil
	}{
		{name: "closed port", change: func(c *Config) { c.URL = "ldap://127.0.0.1:1" }},
		{name: "closed port, ldaps", change: func(c *Config) { c.URL, c.StartTLS = "ldaps://127.0.0.1:1", false }},
		{name: "closed port, template", change: func(c *Config) {
			d.template()(c)
			c.URL = "ldap://127.0.0.1:1"
		}},
		{name: "unknown CA", change: func(c *Config) { c.RootCAs = otherCA(t) }, check: contains("certificate signed by unknown authority")},
		{name: "unknown CA, ldaps", change: func(c *Config) { c.URL, c.StartTLS, c.RootCAs = d.ldapsURL, false, otherCA(t) },
			check: func(err error) error {
				if !errors.As(err, &x509.UnknownAuthorityError{}) {
					return fmt.Errorf("no x509.UnknownAuthorityError in the chain")
				}
				return nil
			}},
		{name: "wrong server name", change: func(c *Config) { c.ServerName = "ldap.invalid" }, check: contains("not ldap.invalid")},
		{name: "TLS to the StartTLS port", change: func(c *Config) { c.URL, c.StartTLS = "ldaps://"+ldapHost, false }},
		{name: "wrong service password", change: func(c *Config) { c.BindPassword = "wrong" },
			check: func(err error) error {
				if !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
					return fmt.Errorf("no invalidCredentials in the chain")
				}
				return contains("check ldap.bind_dn and ldap.bind_password_file")(err)
			}},
		{name: "silent server", change: func(c *Config) { c.URL, c.Timeout = "ldap://"+silent, config.Duration(200*time.Millisecond) }},
		{name: "silent server, ldaps", change: func(c *Config) {
			c.URL, c.StartTLS, c.Timeout = "ldaps://"+silent, false, config.Duration(200*time.Millisecond)
		}},
		{name: "cancelled", ctx: cancelled, check: func(err error) error {
			if !errors.Is(err, context.Canceled) {
				return fmt.Errorf("no context.Canceled in the chain")
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			a := newAuth(t, d.config(tt.change))
			_, authErr := a.Authenticate(ctx, "alice", "alice-pass")
			checkErr := a.Check(ctx)
			for what, err := range map[string]error{"Authenticate": authErr, "Check": checkErr} {
				if !errors.Is(err, ErrUnavailable) {
					t.Errorf("%s: %v, want ErrUnavailable", what, err)
					continue
				}
				if tt.check != nil {
					if cerr := tt.check(err); cerr != nil {
						t.Errorf("%s: %v: %v", what, err, cerr)
					}
				}
			}
		})
	}
}

func contains(s string) func(error) error {
	return func(err error) error {
		if !strings.Contains(err.Error(), s) {
			return fmt.Errorf("the cause does not say %q", s)
		}
		return nil
	}
}

func hostPort(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func TestCheck(t *testing.T) {
	d := loadDirectory(t)
	for _, tr := range d.transports() {
		for _, m := range d.modes() {
			cfg := d.config(tr.apply, m.apply)
			if err := newAuth(t, cfg).Check(context.Background()); err != nil {
				t.Errorf("%s/%s: %v", tr.name, m.name, err)
			}
		}
	}
	groups := func(c *Config) {
		c.AllowedGroups, c.AdminGroups = []string{d.group("hpc-users")}, []string{d.group("hpc-admins")}
	}
	if err := newAuth(t, d.config(groups)).Check(context.Background()); err != nil {
		t.Errorf("Check with existing groups: %v", err)
	}
	for _, change := range []func(*Config){
		func(c *Config) { c.UserBaseDN = "ou=staff," + d.base },
		func(c *Config) { c.GroupSearchBaseDN = "ou=teams," + d.base },
		// A group DN with a typo lets nobody in, or makes nobody admin.
		func(c *Config) { c.AllowedGroups = []string{"cn=hpc-user,ou=groups," + d.base} },
		func(c *Config) { c.AdminGroups = []string{"cn=hpc-admin,ou=groups," + d.base} },
	} {
		err := newAuth(t, d.config(change)).Check(context.Background())
		if err == nil || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no such entry") {
			t.Errorf("Check with a missing base or group DN: %v; want a configuration error", err)
		}
	}
}

// TestPooledConnectionBroken breaks the pooled service connection between
// logins, closed or silently dropped, and expects the next login to work.
func TestPooledConnectionBroken(t *testing.T) {
	d := loadDirectory(t)
	for _, silent := range []bool{false, true} {
		t.Run(fmt.Sprintf("silent=%v", silent), func(t *testing.T) {
			f := newForwarder(t, hostPort(t, d.ldapURL))
			a := newAuth(t, d.config(func(c *Config) { c.URL, c.Timeout = "ldap://"+f.addr(), config.Duration(time.Second) }))
			login := func(user string) {
				t.Helper()
				if _, err := a.Authenticate(context.Background(), user, user+"-pass"); err != nil {
					t.Fatalf("%s: %v", user, err)
				}
			}
			login("alice")
			first := f.connections() // the service account's and alice's
			login("bob")
			if got := f.connections() - first; got != 1 {
				t.Errorf("second login opened %d connections, want 1 (its own bind; the service connection is reused)", got)
			}
			f.cut(silent)
			before := f.connections()
			login("carol")
			if got := f.connections() - before; got != 2 {
				t.Errorf("login after the cut opened %d connections, want 2 (a new service connection and its own bind)", got)
			}
		})
	}
}

func TestConcurrentLogins(t *testing.T) {
	d := loadDirectory(t)
	a := newAuth(t, d.config(func(c *Config) { c.AllowedGroups = []string{d.group("hpc-users")} }))
	logins := []struct {
		user, password string
		want           error
	}{
		{"alice", "alice-pass", nil},
		{"bob", "bob-pass", nil},
		{"carol", "dave-pass", ErrInvalidCredentials},
		{"dave", "dave-pass", ErrNotAllowed},
	}
	var wg sync.WaitGroup
	for i := range 24 {
		l := logins[i%len(logins)]
		wg.Go(func() {
			u, err := a.Authenticate(context.Background(), l.user, l.password)
			if !errors.Is(err, l.want) || (err == nil && u.Name != l.user) {
				t.Errorf("%s: %+v, %v; want %v", l.user, u, err, l.want)
			}
		})
	}
	wg.Wait()
}
