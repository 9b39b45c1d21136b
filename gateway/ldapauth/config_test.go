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
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// validSearch is a valid search-mode configuration the cases below break.
func validSearch() Config {
	return Config{
		URL:           "ldaps://ldap.example.org",
		BindDN:        "cn=hpcgate,ou=services,dc=example,dc=org",
		BindPassword:  "secret",
		UserBaseDN:    "ou=people,dc=example,dc=org",
		AllowedGroups: []string{"cn=hpc-users,ou=groups,dc=example,dc=org"},
		Logger:        quiet(),
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no url", func(c *Config) { c.URL = "" }, "url is required"},
		{"http url", func(c *Config) { c.URL = "http://ldap.example.org" }, "scheme must be ldap or ldaps"},
		{"no host", func(c *Config) { c.URL = "ldaps://" }, "no host"},
		{"url with dn", func(c *Config) { c.URL = "ldap://h/dc=example,dc=org?uid" }, "only scheme, host and port"},
		{"starttls on ldaps", func(c *Config) { c.StartTLS = true }, "ldaps:// is TLS already"},
		{"neither mode", func(c *Config) { c.UserBaseDN = "" }, "one of user_base_dn (search) or dn_template is required"},
		{"both modes", func(c *Config) { c.DNTemplate = "uid={username},ou=people,dc=example,dc=org" }, "not both"},
		{"bad base", func(c *Config) { c.UserBaseDN = "people" }, `user_base_dn "people" is not a distinguished name`},
		{"filter without placeholder", func(c *Config) { c.UserFilter = "(uid=alice)" }, "must contain {username}"},
		{"broken filter", func(c *Config) { c.UserFilter = "(uid={username}" }, "user_filter"},
		{"bind dn without password", func(c *Config) { c.BindPassword = "" }, "has no password"},
		{"password without bind dn", func(c *Config) { c.BindDN = "" }, "a bind password without bind_dn"},
		{"bad bind dn", func(c *Config) { c.BindDN = "hpcgate" }, "bind_dn"},
		{"template without placeholder", func(c *Config) {
			c.UserBaseDN, c.BindDN, c.BindPassword = "", "", ""
			c.DNTemplate = "uid=alice,ou=people,dc=example,dc=org"
		}, "must contain {username} once"},
		{"template with bind dn", func(c *Config) {
			c.UserBaseDN = ""
			c.DNTemplate = "uid={username},ou=people,dc=example,dc=org"
		}, "with dn_template the hub binds as the user"},
		{"bad group attribute", func(c *Config) { c.GroupAttribute = "member of" }, "group_attribute"},
		{"bad username attribute", func(c *Config) { c.UsernameAttribute = "(uid)" }, "username_attribute"},
		{"bad allowed group", func(c *Config) { c.AllowedGroups = []string{"hpc-users"} }, "allowed_groups"},
		{"bad admin group", func(c *Config) { c.AdminGroups = []string{"cn=x,,"} }, "admin_groups"},
		{"bad admin user", func(c *Config) { c.AdminUsers = []string{"root)(uid=*"} }, "admin_users"},
		{"bad group base", func(c *Config) { c.GroupSearchBaseDN = "groups" }, "group_search_base_dn"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "negative"},
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
	for _, want := range []string{"scheme", "admin_users"} {
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
	got := a.cfg
	if got.UserFilter != DefaultUserFilter || got.UsernameAttribute != DefaultUsernameAttribute ||
		got.GroupAttribute != DefaultGroupAttribute || got.GroupMemberAttribute != DefaultGroupMemberAttribute ||
		got.Timeout != DefaultTimeout {
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
