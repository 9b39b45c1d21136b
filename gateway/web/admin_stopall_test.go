package web

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"hpcgate/gateway"
)

func TestAdminStopAll(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	gone := ready("dave", now)
	gone.State = gateway.StateStopped
	e.serverIs(ready("alice", now), queued("bob", now), gone)
	var stopped []string
	e.hub.StopFn = func(_ context.Context, user, server, by string) error {
		if by != "carol" {
			t.Errorf("stop of %s by %s", user, by)
		}
		stopped = append(stopped, user+"/"+server)
		return nil
	}
	b := e.browser()
	b.login("carol", "carol-pass")
	if _, body := b.get("/hub/admin"); !strings.Contains(body, `href="/hub/admin/stop-all"`) {
		t.Error("the admin page has no Stop all")
	}
	_, body := b.get("/hub/admin/stop-all")
	if !strings.Contains(body, "<strong>2</strong> servers") || !strings.Contains(body, "alice") || !strings.Contains(body, "bob") || strings.Contains(body, "dave") {
		t.Errorf("confirmation page: %s", body)
	}
	xsrf := reXSRF.FindStringSubmatch(body)[1]
	// Without the confirmation, nothing stops.
	if resp, _ := b.post("/hub/admin/stop-all", url.Values{"_xsrf": {xsrf}}); resp.StatusCode != 303 || len(stopped) != 0 {
		t.Fatalf("unconfirmed: %d, stopped %v", resp.StatusCode, stopped)
	}
	resp, _ := b.post("/hub/admin/stop-all", url.Values{"_xsrf": {xsrf}, "confirm": {"yes"}})
	if resp.StatusCode != 303 || !slices.Equal(stopped, []string{"alice/", "bob/"}) {
		t.Errorf("confirmed: %d, stopped %v", resp.StatusCode, stopped)
	}
	if _, body := b.get("/hub/admin"); !strings.Contains(body, "Stopping 2 servers.") {
		t.Error("no message after stop all")
	}
}
