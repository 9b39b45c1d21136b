package ldapauth

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"hpcgate/gateway/config"
)

// FromSite is Config for the site file's ldap section (already checked by
// config.Load) with its secrets, which come in as the files' contents cmd
// reads: this package reads no files. serviceUsers are the clusters' SSH
// service accounts, which may never log in.
func FromSite(l config.LDAP, caPEM, bindPassword []byte, serviceUsers []string, log *slog.Logger) (Config, error) {
	c := Config{LDAP: l, BindPassword: strings.TrimRight(string(bindPassword), "\r\n"), Logger: log}
	for _, u := range serviceUsers {
		if !slices.Contains(c.ServiceUsers, u) {
			c.ServiceUsers = append(c.ServiceUsers, u)
		}
	}
	if len(caPEM) > 0 {
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(caPEM) {
			return Config{}, fmt.Errorf("ldap ca_file %s: no PEM certificates", l.CAFile)
		}
	}
	return c, nil
}
