package ldapauth

import (
	"os/exec"
	"testing"

	"hpcgate/batch/batchtest"
)

// TestLdapwhoami checks the test directory with OpenLDAP's own client:
// alice binds with alice-pass over StartTLS and over LDAPS, and a wrong
// password fails with 49.
func TestLdapwhoami(t *testing.T) {
	c := batchtest.LoadCluster(t)
	ca := c.Get(t, "LDAP_CA_FILE")
	dn := "uid=alice,ou=people,dc=example,dc=org"
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"starttls", []string{"-ZZ", "-H", c.Get(t, "LDAP_URL")}},
		{"ldaps", []string{"-H", c.Get(t, "LDAPS_URL")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			whoami := func(pw string) (string, int) {
				cmd := exec.Command("ldapwhoami", append([]string{"-x", "-D", dn, "-w", pw}, tc.args...)...)
				cmd.Env = append(cmd.Environ(), "LDAPTLS_CACERT="+ca, "LDAPTLS_REQCERT=demand")
				out, err := cmd.CombinedOutput()
				if ee, ok := err.(*exec.ExitError); ok {
					return string(out), ee.ExitCode()
				}
				return string(out), 0
			}
			if out, rc := whoami("alice-pass"); rc != 0 || out != "dn:"+dn+"\n" {
				t.Errorf("alice-pass: rc %d %q", rc, out)
			}
			if out, rc := whoami("wrong"); rc != 49 {
				t.Errorf("wrong password: rc %d %q, want 49", rc, out)
			}
		})
	}
}
