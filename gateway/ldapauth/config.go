package ldapauth

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"hpcgate/gateway/config"
)

// Placeholder is replaced by the (validated, escaped) login name in
// UserFilter and DNTemplate.
const Placeholder = "{username}"

// Config is the site file's ldap section plus what the YAML does not
// hold: the secrets' contents (cmd reads the files; this package reads
// none), the service accounts and a logger. The rules for the section
// live in one place, config.LDAP.Validate, which check-config reports
// with file and line; New applies the same rules and only compiles the
// result (URL, DNs, names).
type Config struct {
	// LDAP is the ldap section. Fields left empty get the site file's
	// defaults (config.Default), except StartTLS and MinUID, whose zero
	// values mean no StartTLS and no uid check. StartTLS is ignored for
	// ldaps:// URLs (config.LDAP.UseStartTLS). BindPasswordFile names
	// where BindPassword came from; it is required with BindDN.
	config.LDAP

	// BindPassword is the contents of BindPasswordFile, the password of
	// the service account BindDN.
	BindPassword string
	// RootCAs verifies the server's certificate (ca_file's certificates).
	// Default: the system roots.
	RootCAs *x509.CertPool
	// ServerName is the name the certificate must carry. Default: the host of URL.
	ServerName string
	// ServiceUsers are login names that may never log in: the cluster's
	// SSH service accounts. The login name in BindDN's first RDN (cn= or
	// the username attribute) is added by New.
	ServiceUsers []string

	// Logger receives warnings about the configuration and a line per
	// refused login. Default: slog.Default().
	Logger *slog.Logger
}

// withDefaults returns a copy of c with the site file's defaults filled
// in where c leaves a field empty.
func (c Config) withDefaults() Config {
	d := config.Default().LDAP
	for _, f := range []struct {
		v   *string
		def string
	}{
		{&c.UserFilter, d.UserFilter},
		{&c.UsernameAttribute, d.UsernameAttribute},
		{&c.GroupAttribute, d.GroupAttribute},
		{&c.GroupMemberAttribute, d.GroupMemberAttribute},
		{&c.UIDAttribute, d.UIDAttribute},
	} {
		if *f.v == "" {
			*f.v = f.def
		}
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// compiled is what New derives from a valid Config.
type compiled struct {
	url           *url.URL
	serverName    string
	startTLS      bool
	timeout       time.Duration
	allowedGroups []*ldap.DN
	adminGroups   []*ldap.DN
	adminUsers    []string
	serviceUsers  []string // normalised login names refused at login and on refresh
}

// validate checks a Config that has its defaults filled in with the ldap
// section's rules (config.LDAP.Validate) and the few that concern what
// the YAML does not hold, then compiles it. Every problem is reported,
// joined, so a site admin fixes them in one pass.
func (c *Config) validate() (*compiled, error) {
	var errs []error
	for _, p := range c.LDAP.Validate() {
		p.Path = "ldap." + p.Path
		errs = append(errs, p)
	}
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	// Validate saw the file's name, not its contents.
	switch {
	case c.BindDN != "" && c.BindPasswordFile != "" && c.BindPassword == "":
		bad("ldap.bind_password_file: %s holds no password for bind_dn %q", c.BindPasswordFile, c.BindDN)
	case c.BindDN == "" && c.BindPasswordFile == "" && c.BindPassword != "":
		bad("a bind password without bind_dn")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("ldap config: %w", err)
	}
	out, err := c.compile()
	if err != nil {
		return nil, fmt.Errorf("ldap config: %w", err)
	}
	return out, nil
}

// compile parses what validate checked and normalises the user names.
// Service users (not in the ldap section) may fail here; anything else
// failing is config.LDAP.Validate letting through what it cannot parse.
func (c *Config) compile() (*compiled, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", c.URL, err)
	}
	out := &compiled{url: u, serverName: c.ServerName, startTLS: c.UseStartTLS(), timeout: time.Duration(c.Timeout)}
	if out.serverName == "" {
		out.serverName = u.Hostname()
	}
	dns := func(field string, in []string) ([]*ldap.DN, error) {
		var parsed []*ldap.DN
		for _, g := range in {
			dn, err := ldap.ParseDN(g)
			if err != nil {
				return nil, fmt.Errorf("%s %q: %w", field, g, err)
			}
			parsed = append(parsed, dn)
		}
		return parsed, nil
	}
	if out.allowedGroups, err = dns("allowed_groups", c.AllowedGroups); err != nil {
		return nil, err
	}
	if out.adminGroups, err = dns("admin_groups", c.AdminGroups); err != nil {
		return nil, err
	}
	names := func(field string, in []string) ([]string, error) {
		var norm []string
		for _, name := range in {
			n, ok := NormalizeUsername(name)
			if !ok {
				return nil, fmt.Errorf("%s: %q is not a valid user name", field, name)
			}
			if !slices.Contains(norm, n) {
				norm = append(norm, n)
			}
		}
		return norm, nil
	}
	if out.adminUsers, err = names("admin_users", c.AdminUsers); err != nil {
		return nil, err
	}
	if out.serviceUsers, err = names("service users", c.ServiceUsers); err != nil {
		return nil, err
	}
	if n := bindName(c.BindDN, c.UsernameAttribute); n != "" && !slices.Contains(out.serviceUsers, n) {
		out.serviceUsers = append(out.serviceUsers, n)
	}
	return out, nil
}

// bindName is the login name the service account's DN suggests: the value
// of its first RDN when that is cn= or the username attribute and reads as
// a user name (cn=hpcgate,ou=services,… → hpcgate), else "". A person
// entry with that uid would be the service account logging in as a user.
func bindName(bindDN, usernameAttr string) string {
	dn, err := ldap.ParseDN(bindDN)
	if err != nil || len(dn.RDNs) == 0 || len(dn.RDNs[0].Attributes) != 1 {
		return ""
	}
	a := dn.RDNs[0].Attributes[0]
	if !strings.EqualFold(a.Type, "cn") && !strings.EqualFold(a.Type, usernameAttr) {
		return ""
	}
	n, ok := NormalizeUsername(a.Value)
	if !ok {
		return ""
	}
	return n
}
