package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"testing"
	"time"
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

// TestAPIProxyServices: the routing table has each service with a url at
// /services/<name>/, as JupyterHub's proxy does; a service without one
// (managed, serving no HTTP) has no route.
func TestAPIProxyServices(t *testing.T) {
	e := newEnv(t, withServices(testServices+`  - name: cron
    command: [/bin/true]
`, map[string]ServiceRuntime{"whoami": {Token: whoamiToken}, "admins": {Token: adminsToken}}))
	e.serverIs()
	carol := e.apiToken("carol", TokenUser, 0, time.Time{})
	resp, body := e.api("GET", "/hub/api/proxy", carol, "")
	var routes map[string]route
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &routes) != nil {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if routes["/"].Data["hub"] != true {
		t.Errorf("no hub route: %s", body)
	}
	delete(routes, "/")
	var got []string
	for spec, r := range routes {
		got = append(got, fmt.Sprintf("%s %s %s %v", spec, r.Routespec, r.Target, r.Data))
	}
	sort.Strings(got)
	want := []string{
		"/services/admins/ /services/admins/ http://127.0.0.1:10102 map[service:admins]",
		"/services/whoami/ /services/whoami/ http://127.0.0.1:10101 map[service:whoami]"}
	if !slices.Equal(got, want) {
		t.Errorf("routes %q, want %q", got, want)
	}
}
