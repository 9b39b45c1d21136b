package ldapauth

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"hpcgate/gateway/config"
)

// FromSite is the one mapping of the site file's ldap section (already
// checked by config.Load) onto Config. The secrets come in as the files'
// contents, which cmd reads: this package reads no files. serviceUsers
// are the clusters' SSH service accounts, which may never log in.
func FromSite(l config.LDAP, caPEM, bindPassword []byte, serviceUsers []string, log *slog.Logger) (Config, error) {
	c := Config{
		URL: l.URL, StartTLS: l.UseStartTLS(), InsecureSkipVerify: l.InsecureSkipVerify,
		BindDN: l.BindDN, BindPassword: strings.TrimRight(string(bindPassword), "\r\n"),
		UserBaseDN: l.UserBaseDN, UserFilter: l.UserFilter, UsernameAttribute: l.UsernameAttribute, DNTemplate: l.DNTemplate,
		GroupAttribute: l.GroupAttribute, GroupSearchBaseDN: l.GroupSearchBaseDN, GroupMemberAttribute: l.GroupMemberAttribute,
		AllowedGroups: l.AllowedGroups, AdminGroups: l.AdminGroups, AdminUsers: l.AdminUsers,
		MinUID: l.MinUID, UIDAttribute: l.UIDAttribute, Timeout: time.Duration(l.Timeout), Logger: log,
	}
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
