package web

import (
	"regexp"
	"slices"
	"testing"
)

// TestHomeListsServices: the home page lists the services a user may open
// (url set, display: true, access:services held), linking to
// /services/<name>/, as JupyterHub 3.0's Services menu does.
func TestHomeListsServices(t *testing.T) {
	e := newEnv(t, withServices(testServices+`  - name: hidden
    url: http://127.0.0.1:10103
    display: false
  - name: cron
    command: [/bin/true]
`, map[string]ServiceRuntime{"whoami": {Token: whoamiToken}, "admins": {Token: adminsToken}}))
	e.serverIs()
	link := regexp.MustCompile(`<a href="([^"]+)" data-service="([^"]+)">`)
	for _, tc := range []struct {
		user string
		want []string
	}{
		// admins is open to hpc-admins only; hidden is not displayed;
		// cron has no url to open.
		{"alice", []string{"whoami /services/whoami/"}},
		{"carol", []string{"whoami /services/whoami/", "admins /services/admins/"}},
	} {
		b := e.browser()
		b.login(tc.user, directory[tc.user].password)
		_, body := b.get("/hub/home")
		var got []string
		for _, m := range link.FindAllStringSubmatch(body, -1) {
			got = append(got, m[2]+" "+m[1])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s's home page lists services %q, want %q", tc.user, got, tc.want)
		}
	}
	// No services: no empty section.
	e2 := newEnv(t)
	e2.serverIs()
	b := e2.browser()
	b.login("alice", "alice-pass")
	if _, body := b.get("/hub/home"); regexp.MustCompile(`data-services`).MatchString(body) {
		t.Error("a site without services shows a Services section")
	}
}
