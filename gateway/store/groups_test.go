package store

import (
	"context"
	"errors"
	"slices"
	"testing"

	"hpcgate/gateway"
)

// testGroups: hub groups an admin manages beside the directory groups
// found in the users' groups; members' hub groups come with the user, and
// a membership change reaches a user already read (and cached).
func testGroups(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t)
	csGroup := "cn=cs-staff,ou=groups,dc=example,dc=org"
	must(s.UpsertUser(ctx, gateway.User{Name: "alice", Groups: []string{"cn=hpc-users,ou=groups,dc=example,dc=org"}}))(t)
	e.clock.Advance(1)
	must(s.UpsertUser(ctx, gateway.User{Name: "bob", Groups: []string{"cn=hpc-users,ou=groups,dc=example,dc=org", csGroup}}))(t)
	must(s.EnsureUser(ctx, "carol"))(t)

	if _, err := s.CreateGroup(ctx, "course1", []string{"alice", "nobody"}); gateway.ErrorCode(err) != gateway.ENOTFOUND {
		t.Fatalf("CreateGroup with an unknown member: %v, want not found", err)
	}
	if _, err := s.GetGroup(ctx, "course1"); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("a refused CreateGroup left the group: %v", err)
	}
	if _, err := s.CreateGroup(ctx, "Course=1", nil); gateway.ErrorCode(err) != gateway.EINVALID {
		t.Errorf("CreateGroup(Course=1): %v, want invalid", err)
	}
	if a := must(s.GetUser(ctx, "alice"))(t); len(a.HubGroups) != 0 { // cached now
		t.Fatalf("alice's hub groups before = %v", a.HubGroups)
	}
	g := must(s.CreateGroup(ctx, "course1", []string{"bob", "alice"}))(t)
	if g.Directory || !slices.Equal(g.Users, []string{"alice", "bob"}) {
		t.Errorf("CreateGroup = %+v, want hub group alice, bob (in creation order)", g)
	}
	if _, err := s.CreateGroup(ctx, "course1", nil); gateway.ErrorCode(err) != gateway.ECONFLICT {
		t.Errorf("second CreateGroup: %v, want conflict", err)
	}
	must(s.CreateGroup(ctx, "empty", nil))(t)
	if a := must(s.GetUser(ctx, "alice"))(t); !slices.Equal(a.HubGroups, []string{"course1"}) ||
		!slices.Equal(a.AllGroups(), []string{"cn=hpc-users,ou=groups,dc=example,dc=org", "course1"}) ||
		!slices.Equal(a.GroupNames(), []string{"hpc-users", "course1"}) {
		t.Errorf("alice after CreateGroup: hub groups %v, all %v, names %v", a.HubGroups, a.AllGroups(), a.GroupNames())
	}

	g = must(s.AddGroupMembers(ctx, "course1", []string{"carol", "alice"}))(t)
	if !slices.Equal(g.Users, []string{"alice", "bob", "carol"}) {
		t.Errorf("after adding carol (and alice again): %v", g.Users)
	}
	g = must(s.RemoveGroupMembers(ctx, "course1", []string{"bob", "bob"}))(t)
	if !slices.Equal(g.Users, []string{"alice", "carol"}) {
		t.Errorf("after removing bob: %v", g.Users)
	}
	if _, err := s.AddGroupMembers(ctx, "nope", []string{"alice"}); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("AddGroupMembers to no group: %v", err)
	}
	if _, err := s.AddGroupMembers(ctx, "course1", []string{"zed"}); gateway.ErrorCode(err) != gateway.ENOTFOUND {
		t.Errorf("AddGroupMembers of no user: %v", err)
	}
	if b := must(s.GetUser(ctx, "bob"))(t); len(b.HubGroups) != 0 {
		t.Errorf("bob's hub groups after removal = %v", b.HubGroups)
	}

	d := must(s.GetGroup(ctx, "hpc-users"))(t)
	if !d.Directory || !slices.Equal(d.Users, []string{"alice", "bob"}) || !slices.Equal(d.DNs, []string{"cn=hpc-users,ou=groups,dc=example,dc=org"}) {
		t.Errorf("directory group hpc-users = %+v", d)
	}
	var names []string
	for _, g := range must(s.ListGroups(ctx))(t) {
		names = append(names, g.Name)
	}
	if want := []string{"course1", "empty", "cs-staff", "hpc-users"}; !slices.Equal(names, want) {
		t.Errorf("ListGroups = %v, want %v (hub groups by creation, then directory groups by name)", names, want)
	}
	// The directory changes (a refresh rewrites bob's groups): so does the group.
	must(s.UpsertUser(ctx, gateway.User{Name: "bob", Groups: []string{csGroup}}))(t)
	if d := must(s.GetGroup(ctx, "hpc-users"))(t); !slices.Equal(d.Users, []string{"alice"}) {
		t.Errorf("hpc-users after bob left it = %v", d.Users)
	}

	if err := s.DeleteGroup(ctx, "course1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGroup(ctx, "course1"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("second DeleteGroup: %v", err)
	}
	if err := s.DeleteGroup(ctx, "hpc-users"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("DeleteGroup of a directory group: %v, want not found (it is not the hub's)", err)
	}
	if a := must(s.GetUser(ctx, "alice"))(t); len(a.HubGroups) != 0 {
		t.Errorf("alice's hub groups after the group was deleted = %v", a.HubGroups)
	}
	// A deleted user leaves their groups.
	must(s.AddGroupMembers(ctx, "empty", []string{"carol"}))(t)
	if err := s.DeleteUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if g := must(s.GetGroup(ctx, "empty"))(t); len(g.Users) != 0 {
		t.Errorf("group after its member was deleted = %v", g.Users)
	}
}

// testUserManagement: users an admin creates, and the hub's admin grant,
// which a login or a rights refresh (UpsertUser with the directory's
// verdict) never takes back.
func testUserManagement(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t)
	must(s.EnsureUser(ctx, "alice"))(t)
	created := must(s.CreateUsers(ctx, []string{"bob", "alice", "carol"}, true))(t)
	if len(created) != 2 || created[0].Name != "bob" || created[1].Name != "carol" {
		t.Fatalf("CreateUsers = %+v, want bob and carol", created)
	}
	if !created[0].HubAdmin || created[0].Admin || !created[0].IsAdmin() || !created[0].LastLogin.IsZero() {
		t.Errorf("bob = %+v, want a hub-granted admin who never logged in", created[0])
	}
	if a := must(s.GetUser(ctx, "alice"))(t); a.IsAdmin() {
		t.Errorf("an existing user was changed by CreateUsers: %+v", a)
	}
	if again := must(s.CreateUsers(ctx, []string{"bob"}, false))(t); len(again) != 0 {
		t.Errorf("CreateUsers of an existing user = %+v", again)
	}
	// bob logs in; the directory says he is no admin: the grant stays.
	must(s.UpsertUser(ctx, gateway.User{Name: "bob", Admin: false, Groups: []string{"cn=x,dc=y"}}))(t)
	if b := must(s.GetUser(ctx, "bob"))(t); !b.IsAdmin() || b.Admin {
		t.Errorf("bob after a login = %+v, want still admin by the hub's grant", b)
	}
	b := must(s.SetHubAdmin(ctx, "bob", false))(t)
	if b.IsAdmin() {
		t.Errorf("bob after the grant was taken back = %+v", b)
	}
	if _, err := s.SetHubAdmin(ctx, "nobody", true); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("SetHubAdmin(nobody): %v", err)
	}
}
