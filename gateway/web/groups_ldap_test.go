package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"hpcgate/gateway"
	"hpcgate/gateway/ldapauth/ldaptest"
	"hpcgate/gateway/proxy"
)

// TestDirectoryGroupsAndProfiles runs against the cluster's slapd: a
// user's LDAP groups appear in their model and in /hub/api/groups, follow
// the directory at the rights refresh, and cannot be changed through the
// API; a profile's allowed_groups naming an LDAP group (a DN) or a hub
// group (a name) opens the profile to their members; a user an admin
// creates in the hub but who is not in LDAP still cannot log in.
func TestDirectoryGroupsAndProfiles(t *testing.T) {
	d := ldaptest.Load(t)
	auth := slapdAuth(t, d)
	e := newEnv(t, withDirectory(auth))
	e.serverIs()
	var spawned []string
	e.hub.SpawnFn = func(_ context.Context, req gateway.SpawnRequest) (*gateway.ServerInfo, error) {
		spawned = append(spawned, req.Profile)
		return queued(req.User, e.clock.Now()), nil
	}
	// Two profiles on the first cluster: one for the LDAP group
	// "workshop", one for the hub group "course1".
	cl := &e.cfg.Clusters[0]
	small, _ := cl.Profile("small")
	ws, course := *small, *small
	ws.Name, ws.AllowedGroups = "ws", []string{d.Group("workshop")}
	course.Name, course.AllowedGroups = "course", []string{"course1"}
	if ps := ws.Validate(); len(ps) != 0 {
		t.Fatalf("profile ws: %v", ps)
	}
	if ps := course.Validate(); len(ps) != 0 {
		t.Fatalf("profile course: %v", ps)
	}
	cl.Profiles = append(cl.Profiles, ws, course)
	hub := gateway.New(gateway.Options{Config: e.cfg, Servers: e.store, Users: e.store, Tokens: e.store, Sessions: e.store, Events: e.store,
		Routes: testRouter{proxy.New(proxy.Config{})}, Directory: auth, Now: e.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(hub.Close)
	ctx := context.Background()
	// carol is the directory's admin: a real login makes her one.
	e.browser().login("carol", "carol-pass")
	carol, _, err := e.store.NewToken(ctx, gateway.TokenSpec{User: "carol", Kind: TokenUser})
	if err != nil {
		t.Fatal(err)
	}

	name, pw := d.NewUser(t, 6300, "hpc-users")
	e.browser().login(name, pw)
	tok, _, err := e.store.NewToken(ctx, gateway.TokenSpec{User: name, Kind: TokenUser})
	if err != nil {
		t.Fatal(err)
	}
	groupsOf := func() []string {
		_, body := e.api("GET", "/hub/api/users/"+name, carol, "")
		var u struct{ Groups []string }
		if err := json.Unmarshal([]byte(body), &u); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		return u.Groups
	}
	members := func(group string) []string {
		resp, body := e.api("GET", "/hub/api/groups/"+group, carol, "")
		if resp.StatusCode == http.StatusNotFound {
			return nil
		}
		_, users, src := groupOf(t, body)
		if src != "directory" && group != "course1" {
			t.Errorf("%s's source = %q, want directory", group, src)
		}
		return users
	}
	spawn := func(profile string) int {
		resp, _ := e.api("POST", "/hub/api/users/"+name+"/server", tok, `{"profile": "`+profile+`"}`)
		return resp.StatusCode
	}
	if g := groupsOf(); !slices.Equal(g, []string{"hpc-users"}) {
		t.Errorf("groups after login = %v, want [hpc-users]", g)
	}
	if !slices.Contains(members("hpc-users"), name) || slices.Contains(members("workshop"), name) {
		t.Errorf("hpc-users %v should hold %s, workshop %v should not", members("hpc-users"), name, members("workshop"))
	}
	if st := spawn("ws"); st != http.StatusBadRequest {
		t.Errorf("spawn ws outside the LDAP group: %d, want 400", st)
	}
	if st := spawn("course"); st != http.StatusBadRequest {
		t.Errorf("spawn course outside the hub group: %d, want 400", st)
	}

	// The directory adds the user to "workshop"; the refresh reads it.
	d.AddToGroup(t, name, "workshop")
	if err := hub.RefreshRights(ctx); err != nil {
		t.Fatal(err)
	}
	if g := groupsOf(); !slices.Equal(g, []string{"hpc-users", "workshop"}) {
		t.Errorf("groups after the refresh = %v, want [hpc-users workshop]", g)
	}
	if !slices.Contains(members("workshop"), name) {
		t.Errorf("workshop after the refresh = %v, want %s in it", members("workshop"), name)
	}
	if st := spawn("ws"); st != http.StatusAccepted {
		t.Errorf("spawn ws in the LDAP group: %d, want 202", st)
	}
	// LDAP's groups are LDAP's.
	resp, body := e.api("DELETE", "/hub/api/groups/workshop/users", carol, `{"users": ["`+name+`"]}`)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "LDAP") {
		t.Errorf("remove from an LDAP group through the API: %d %s", resp.StatusCode, body)
	}

	// An admin puts the user in the hub group course1.
	if resp, body := e.api("POST", "/hub/api/groups/course1", carol, `{"users": ["`+name+`"]}`); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create course1: %d %s", resp.StatusCode, body)
	}
	if st := spawn("course"); st != http.StatusAccepted {
		t.Errorf("spawn course in the hub group: %d, want 202", st)
	}
	// The refresh rewrites the directory's groups only: course1 stays.
	d.RemoveFromGroup(t, name, "workshop")
	if err := hub.RefreshRights(ctx); err != nil {
		t.Fatal(err)
	}
	if g := groupsOf(); !slices.Equal(g, []string{"hpc-users", "course1"}) {
		t.Errorf("groups after leaving workshop = %v, want [hpc-users course1]", g)
	}
	if st := spawn("ws"); st != http.StatusBadRequest {
		t.Errorf("spawn ws after leaving the LDAP group: %d, want 400", st)
	}
	if !slices.Equal(spawned, []string{"ws", "course"}) {
		t.Errorf("spawned %v, want ws then course", spawned)
	}

	// A hub record is no account: a user created by an admin who is not
	// in LDAP cannot log in, admin grant or not.
	if resp, body := e.api("POST", "/hub/api/users/ghost", carol, `{"admin": true}`); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create ghost: %d %s", resp.StatusCode, body)
	}
	b := e.browser()
	xsrf := b.xsrf("/hub/login")
	resp, _ = b.post("/hub/login", url.Values{"_xsrf": {xsrf}, "username": {"ghost"}, "password": {"anything"}})
	if resp.StatusCode == http.StatusFound || b.cookie(sessionCookie) != "" {
		t.Errorf("ghost, not in LDAP, logged in: %d", resp.StatusCode)
	}
}
