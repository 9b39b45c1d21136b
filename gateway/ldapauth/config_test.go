package ldapauth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"hpcgate/gateway/config"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// validSearch is a valid search-mode configuration the cases below break.
func validSearch() Config {
	return Config{
		LDAP: config.LDAP{
			URL:              "ldaps://ldap.example.org",
			BindDN:           "cn=hpcgate,ou=services,dc=example,dc=org",
			BindPasswordFile: "/etc/hpcgate/ldap-bind-password",
			UserBaseDN:       "ou=people,dc=example,dc=org",
			AllowedGroups:    []string{"cn=hpc-users,ou=groups,dc=example,dc=org"},
		},
		BindPassword: "secret",
		Logger:       quiet(),
	}
}

// TestNewRejects: New applies the ldap section's rules, with the messages
// check-config gives (config.LDAP.Validate), and its own few about what
// the YAML does not hold.
func TestNewRejects(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no url", func(c *Config) { c.URL = "" }, "ldap.url: required"},
		{"http url", func(c *Config) { c.URL = "http://ldap.example.org" }, `"http://ldap.example.org" is not ldap://host[:port] or ldaps://host[:port]`},
		{"no host", func(c *Config) { c.URL = "ldaps://" }, `"ldaps://" is not ldap://host[:port] or ldaps://host[:port]`},
		{"url with dn", func(c *Config) { c.URL = "ldap://h/dc=example,dc=org?uid" }, "only scheme, host and port"},
		{"neither mode", func(c *Config) { c.UserBaseDN = "" }, "ldap.user_base_dn: required unless dn_template is set"},
		{"both modes", func(c *Config) { c.DNTemplate = "uid={username},ou=people,dc=example,dc=org" }, "not both"},
		{"bad base", func(c *Config) { c.UserBaseDN = "people" }, `ldap.user_base_dn: "people" is not a distinguished name`},
		{"filter without placeholder", func(c *Config) { c.UserFilter = "(uid=alice)" }, "ldap.user_filter: \"(uid=alice)\" must contain {username}"},
		{"broken filter", func(c *Config) { c.UserFilter = "(uid={username}" }, "ldap.user_filter: \"(uid={username}\" is not an LDAP filter"},
		{"bind dn without password file", func(c *Config) { c.BindPasswordFile = "" }, "ldap.bind_password_file: required with bind_dn"},
		{"bind dn with an empty password", func(c *Config) { c.BindPassword = "" }, "holds no password for bind_dn"},
		{"password file without bind dn", func(c *Config) { c.BindDN = "" }, "ldap.bind_password_file: is the password of bind_dn, which is not set"},
		{"password without bind dn", func(c *Config) { c.BindDN, c.BindPasswordFile = "", "" }, "a bind password without bind_dn"},
		{"bad bind dn", func(c *Config) { c.BindDN = "hpcgate" }, `ldap.bind_dn: "hpcgate" is not a distinguished name`},
		{"template without placeholder", func(c *Config) {
			c.UserBaseDN, c.BindDN, c.BindPasswordFile, c.BindPassword = "", "", "", ""
			c.DNTemplate = "uid=alice,ou=people,dc=example,dc=org"
		}, "ldap.dn_template: \"uid=alice,ou=people,dc=example,dc=org\" must contain {username} once"},
		{"template with bind dn", func(c *Config) {
			c.UserBaseDN = ""
			c.DNTemplate = "uid={username},ou=people,dc=example,dc=org"
		}, "ldap.bind_dn: is only used to search for users; with dn_template the hub binds as the user"},
		{"bad group attribute", func(c *Config) { c.GroupAttribute = "member of" }, "ldap.group_attribute: \"member of\" is not an attribute name"},
		{"bad username attribute", func(c *Config) { c.UsernameAttribute = "(uid)" }, "ldap.username_attribute"},
		{"bad allowed group", func(c *Config) { c.AllowedGroups = []string{"hpc-users"} }, "ldap.allowed_groups[0]"},
		{"bad admin group", func(c *Config) { c.AdminGroups = []string{"cn=x,,"} }, "ldap.admin_groups[0]"},
		{"bad admin user", func(c *Config) { c.AdminUsers = []string{"root)(uid=*"} }, "ldap.admin_users[0]"},
		{"bad group base", func(c *Config) { c.GroupSearchBaseDN = "groups" }, "ldap.group_search_base_dn"},
		{"negative timeout", func(c *Config) { c.Timeout = config.Duration(-time.Second) }, "ldap.timeout: must be longer than 0s"},
		{"negative min uid", func(c *Config) { c.MinUID = -1 }, "ldap.min_uid"},
		{"bad service user", func(c *Config) { c.ServiceUsers = []string{"svc)(uid=*"} }, "service users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validSearch()
			tt.change(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v; want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	cfg := validSearch()
	cfg.URL = "http://x"
	cfg.AdminUsers = []string{"Not Valid"}
	_, err := New(cfg)
	for _, want := range []string{"ldap.url", "ldap.admin_users[0]"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New: %v; want it to mention %q", err, want)
		}
	}
}

func TestNewDefaults(t *testing.T) {
	a, err := New(validSearch())
	if err != nil {
		t.Fatal(err)
	}
	got, def := a.cfg, config.Default().LDAP
	if got.UserFilter != def.UserFilter || got.UsernameAttribute != def.UsernameAttribute ||
		got.GroupAttribute != def.GroupAttribute || got.GroupMemberAttribute != def.GroupMemberAttribute ||
		got.UIDAttribute != def.UIDAttribute || got.Timeout != def.Timeout || a.c.timeout != 10*time.Second {
		t.Errorf("defaults not applied: %+v", got)
	}
	if a.tls.ServerName != "ldap.example.org" {
		t.Errorf("TLS server name %q, want the URL's host", a.tls.ServerName)
	}

	cfg := validSearch()
	cfg.URL = "ldaps://10.0.0.5:636"
	cfg.ServerName = "ldap.example.org"
	cfg.AdminUsers = []string{"Carol"}
	if a, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	if a.tls.ServerName != "ldap.example.org" {
		t.Errorf("TLS server name %q, want the configured one", a.tls.ServerName)
	}
	if len(a.c.adminUsers) != 1 || a.c.adminUsers[0] != "carol" {
		t.Errorf("admin users %q, want [carol]", a.c.adminUsers)
	}
}

// TestStartTLSOnlyForLDAP: start_tls (on by default in the site file) is
// ignored for ldaps://, which is TLS already, as config.LDAP.UseStartTLS
// says, and used for ldap://.
func TestStartTLSOnlyForLDAP(t *testing.T) {
	for url, want := range map[string]bool{"ldaps://ldap.example.org": false, "ldap://ldap.example.org": true} {
		cfg := validSearch()
		cfg.URL, cfg.StartTLS = url, true
		a, err := New(cfg)
		if err != nil {
			t.Fatalf("%s with start_tls: %v", url, err)
		}
		if a.c.startTLS != want {
			t.Errorf("%s with start_tls: StartTLS used %v, want %v", url, a.c.startTLS, want)
		}
	}
}

func TestNewWarnsAboutPlaintext(t *testing.T) {
	tests := []struct {
		name     string
		change   func(*Config)
		wantWarn string // "" means no warning
	}{
		{"ldaps", func(c *Config) {}, ""},
		{"starttls", func(c *Config) { c.URL, c.StartTLS = "ldap://ldap.example.org", true }, ""},
		{"plain", func(c *Config) { c.URL = "ldap://ldap.example.org" }, "in clear"},
		{"unverified", func(c *Config) { c.InsecureSkipVerify = true }, "not verified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			cfg := validSearch()
			cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
			tt.change(&cfg)
			if _, err := New(cfg); err != nil {
				t.Fatal(err)
			}
			logged := buf.String()
			if tt.wantWarn == "" && logged != "" {
				t.Errorf("unexpected log: %s", logged)
			}
			if tt.wantWarn != "" && !(strings.Contains(logged, "level=WARN") && strings.Contains(logged, tt.wantWarn)) {
				t.Errorf("log %q, want a warning containing %q", logged, tt.wantWarn)
			}
		})
	}
}

// TestRefusedBeforeTheDirectory uses an address nothing listens on: a
// refusal must come from the checks before any connection, so it is
// ErrInvalidCredentials and not ErrUnavailable.
func TestRefusedBeforeTheDirectory(t *testing.T) {
	cfg := validSearch()
	cfg.URL = "ldap://127.0.0.1:1"
	cfg.StartTLS = true
	var buf bytes.Buffer
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, login := range []struct{ user, password string }{
		{"alice", ""},
		{"*", "alice-pass"},
		{"alice)(uid=*", "alice-pass"},
		{"alice,ou=x", "alice-pass"},
		{"ålice", "alice-pass"},
	} {
		_, err := a.Authenticate(context.Background(), login.user, login.password)
		if err != ErrInvalidCredentials {
			t.Errorf("Authenticate(%q, %q) = %v, want exactly ErrInvalidCredentials", login.user, login.password, err)
		}
	}
	if _, err := a.Authenticate(context.Background(), "alice", "alice-pass"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a valid login against a closed port = %v, want ErrUnavailable (the test's premise)", err)
	}
	if strings.Contains(buf.String(), "alice-pass") {
		t.Errorf("a password was logged: %s", buf.String())
	}
}
