package web

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"hpcgate/gateway"
)

// groupOf decodes a group model.
func groupOf(t *testing.T, body string) (name string, users []string, source string) {
	t.Helper()
	var g struct {
		Kind    string
		Name    string
		Users   []string
		HPCGate struct{ Source string } `json:"hpcgate"`
	}
	if err := json.Unmarshal([]byte(body), &g); err != nil || g.Kind != "group" {
		t.Fatalf("not a group model (%v): %s", err, body)
	}
	return g.Name, g.Users, g.HPCGate.Source
}

// TestRESTGroups: an admin manages hub groups as with JupyterHub 3.0;
// the users' directory groups are listed beside them, read-only; a
// user's model names both.
func TestRESTGroups(t *testing.T) {
	e := newEnv(t)
	e.serverIs()
	admin := e.apiToken("carol", TokenUser, 0, time.Time{})
	e.apiToken("alice", TokenUser, 0, time.Time{})
	e.apiToken("bob", TokenUser, 0, time.Time{})

	resp, body := e.api("POST", "/hub/api/groups/course1", admin, `{"users": ["alice"]}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create course1: %d %s", resp.StatusCode, body)
	}
	if name, users, src := groupOf(t, body); name != "course1" || !slices.Equal(users, []string{"alice"}) || src != "hub" {
		t.Errorf("created course1 = %s %v %s", name, users, src)
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
		says               string
	}{
		{"POST", "/hub/api/groups/course1", "", 409, "already exists"},
		{"POST", "/hub/api/groups/hpc-users", "", 409, "managed in LDAP"},
		{"POST", "/hub/api/groups/Course=2", "", 400, "Invalid group name"},
		{"POST", "/hub/api/groups/course2", `{"users": ["nobody"]}`, 400, "No such user: nobody"},
		{"POST", "/hub/api/groups/course2", `{"users": "alice"}`, 400, "must be a list"},
		{"POST", "/hub/api/groups/course2", `{"colour": "red"}`, 400, "Invalid JSON keys"},
		{"POST", "/hub/api/groups/course2", `{not json`, 400, "Invalid JSON"},
		{"GET", "/hub/api/groups/nope", "", 404, "No such group: nope"},
		{"DELETE", "/hub/api/groups/nope", "", 404, "No such group"},
		{"POST", "/hub/api/groups/course1/users", `{}`, 400, "Must specify users to add"},
		{"DELETE", "/hub/api/groups/course1/users", `{}`, 400, "Must specify users to delete"},
		{"POST", "/hub/api/groups/hpc-users/users", `{"users": ["bob"]}`, 400, "managed by the directory (LDAP group cn=hpc-users"},
		{"DELETE", "/hub/api/groups/hpc-users/users", `{"users": ["bob"]}`, 400, "change it in LDAP"},
		{"DELETE", "/hub/api/groups/hpc-users", "", 400, "managed by the directory"},
		{"POST", "/hub/api/groups", `{}`, 400, "Must specify at least one group"},
		{"POST", "/hub/api/groups", `{"groups": ["x1", "course1"]}`, 409, "Group course1 already exists"},
	} {
		resp, body := e.api(tc.method, tc.path, admin, tc.body)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.says) {
			t.Errorf("%s %s %s: %d %s, want %d saying %q", tc.method, tc.path, tc.body, resp.StatusCode, body, tc.status, tc.says)
		}
	}
	// The bulk create made x1 before it met course1, as JupyterHub's does.
	if resp, _ := e.api("GET", "/hub/api/groups/x1", admin, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("x1 after the bulk create: %d", resp.StatusCode)
	}
	resp, body = e.api("POST", "/hub/api/groups", admin, `{"groups": ["a1", "a2"], "users": ["bob", "Bob "]}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("bulk create: %d %s", resp.StatusCode, body)
	}
	var created []struct {
		Name  string
		Users []string
	}
	json.Unmarshal([]byte(body), &created)
	if len(created) != 2 || created[1].Name != "a2" || !slices.Equal(created[1].Users, []string{"bob"}) {
		t.Errorf("bulk create = %s", body)
	}

	resp, body = e.api("POST", "/hub/api/groups/course1/users", admin, `{"users": ["bob", "alice"]}`)
	if _, users, _ := groupOf(t, body); resp.StatusCode != 200 || !slices.Equal(users, []string{"bob", "alice"}) && !slices.Equal(users, []string{"alice", "bob"}) {
		t.Errorf("add bob: %d %s", resp.StatusCode, body)
	}
	// bob's model names his directory groups and his hub groups.
	resp, body = e.api("GET", "/hub/api/users/bob", admin, "")
	var bob struct{ Groups []string }
	json.Unmarshal([]byte(body), &bob)
	if want := []string{"hpc-users", "teachers", "course1", "a1", "a2"}; !slices.Equal(bob.Groups, want) {
		t.Errorf("bob's groups = %v, want %v", bob.Groups, want)
	}
	resp, body = e.api("DELETE", "/hub/api/groups/course1/users", admin, `{"users": ["bob"]}`)
	if _, users, _ := groupOf(t, body); resp.StatusCode != 200 || !slices.Equal(users, []string{"alice"}) {
		t.Errorf("remove bob: %d %s", resp.StatusCode, body)
	}

	// The list: hub groups as created, then the directory's, one page
	// at a time on request.
	resp, body = e.api("GET", "/hub/api/groups", admin, "")
	var list []struct {
		Name    string
		HPCGate struct{ Source string } `json:"hpcgate"`
	}
	json.Unmarshal([]byte(body), &list)
	var got []string
	for _, g := range list {
		got = append(got, g.Name+"/"+g.HPCGate.Source)
	}
	want := []string{"course1/hub", "x1/hub", "a1/hub", "a2/hub", "gpu-users/directory", "hpc-admins/directory", "hpc-users/directory", "teachers/directory"}
	if !slices.Equal(got, want) {
		t.Errorf("GET /hub/api/groups = %v, want %v", got, want)
	}
	b := e.browser()
	resp, body = b.do("GET", "/hub/api/groups?offset=2&limit=3", nil, http.Header{"Authorization": {"token " + admin}, "Accept": {paginationType}})
	var page struct {
		Items      []struct{ Name string }
		Pagination struct{ Offset, Limit, Total int } `json:"_pagination"`
	}
	json.Unmarshal([]byte(body), &page)
	if len(page.Items) != 3 || page.Items[0].Name != "a1" || page.Pagination.Total != len(want) || page.Pagination.Limit != 3 {
		t.Errorf("a page of groups: %s", body)
	}

	if resp, body := e.api("DELETE", "/hub/api/groups/x1", admin, ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("delete x1: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.api("GET", "/hub/api/groups/x1", admin, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("x1 after delete: %d", resp.StatusCode)
	}
}

// TestGroupScopes: scopes filtered by group, as JupyterHub 3.0 grants
// them: read:users!group=course1 reads course1's members (a hub group)
// and members of a directory group alike, and nobody else; a group
// scope on one group opens that group only.
func TestGroupScopes(t *testing.T) {
	e := newEnv(t)
	e.serverIs()
	ctx := context.Background()
	e.apiToken("carol", TokenUser, 0, time.Time{})
	e.apiToken("alice", TokenUser, 0, time.Time{})
	e.apiToken("bob", TokenUser, 0, time.Time{})
	if _, err := e.store.CreateGroup(ctx, "course1", []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateGroup(ctx, "course2", nil); err != nil {
		t.Fatal(err)
	}
	token := func(owner string, scopes ...string) string {
		plain, _, err := e.store.NewToken(ctx, gateway.TokenSpec{User: owner, Kind: TokenUser, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return plain
	}
	members := token("carol", "read:users!group=course1", "list:users!group=course1")
	teachers := token("carol", "read:users!group=teachers")
	oneGroup := token("carol", "groups!group=course1")
	// A non-admin asks for a group scope: their rights do not hold it.
	aliceTok := token("alice", "read:users!group=course1", "groups!group=course1")
	for _, tc := range []struct {
		token, method, path, body string
		status                    int
	}{
		{members, "GET", "/hub/api/users/alice", "", 200},
		{members, "GET", "/hub/api/users/bob", "", 404},
		{teachers, "GET", "/hub/api/users/bob", "", 200}, // bob's directory group
		{teachers, "GET", "/hub/api/users/alice", "", 404},
		{oneGroup, "GET", "/hub/api/groups/course1", "", 200},
		{oneGroup, "POST", "/hub/api/groups/course1/users", `{"users": ["bob"]}`, 200},
		{oneGroup, "GET", "/hub/api/groups/course2", "", 404},
		{oneGroup, "POST", "/hub/api/groups/course2/users", `{"users": ["bob"]}`, 404},
		{oneGroup, "DELETE", "/hub/api/groups/course1", "", 403}, // delete:groups is admin:groups', not groups'
		{aliceTok, "GET", "/hub/api/users/bob", "", 403},         // her rights hold no read:users on others
		{aliceTok, "GET", "/hub/api/groups/course1", "", 403},
	} {
		if resp, body := e.api(tc.method, tc.path, tc.token, tc.body); resp.StatusCode != tc.status {
			t.Errorf("%s %s with %s: %d %s, want %d", tc.method, tc.path, tokenName(tc.token, members, teachers, oneGroup, aliceTok), resp.StatusCode, body, tc.status)
		}
	}
	// A filtered list lists what the filter covers.
	_, body := e.api("GET", "/hub/api/users", members, "")
	var users []struct{ Name string }
	json.Unmarshal([]byte(body), &users)
	// bob joined course1 above (groups!group=course1); carol, whose
	// token may read her own name, is not listed: list:users decides.
	if len(users) != 2 || users[0].Name != "alice" || users[1].Name != "bob" {
		t.Errorf("users listed with list:users!group=course1: %s", body)
	}
	_, body = e.api("GET", "/hub/api/groups", token("carol", "list:groups!group=course2", "read:groups!group=course2"), "")
	var groups []struct{ Name string }
	json.Unmarshal([]byte(body), &groups)
	if len(groups) != 1 || groups[0].Name != "course2" {
		t.Errorf("groups listed with list:groups!group=course2: %s", body)
	}
	if resp, _ := e.api("GET", "/hub/api/groups", token("carol", "list:groups!user=alice"), ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("list:groups!user=alice: %d, want 403 (only group filters apply to groups)", resp.StatusCode)
	}
}

func tokenName(tok string, names ...string) string {
	for i, n := range names {
		if n == tok {
			return []string{"read:users!group=course1", "read:users!group=teachers", "groups!group=course1", "alice's token"}[i]
		}
	}
	return "?"
}
