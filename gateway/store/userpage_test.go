package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"hpcgate/gateway"
)

// testUsersPage: a page of the user list comes from the database with the
// total of all matching users; the filters are the database's.
func testUsersPage(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t) // holds alice already
	for i := range 250 {
		if _, err := s.EnsureUser(ctx, fmt.Sprintf("u%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// u001 has a ready server, u002 a queued one, u003 a stopped one.
	for i, st := range []gateway.ServerState{gateway.StateReady, gateway.StateQueued, gateway.StateStopped} {
		user := fmt.Sprintf("u%03d", i+1)
		sv, err := s.StartServer(ctx, gateway.NewServer{User: user, Cluster: "c", Profile: "p", JobName: "j-" + user})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetState(ctx, sv.ID, []gateway.ServerState{gateway.StateSubmitting}, st, ""); err != nil {
			t.Fatal(err)
		}
	}
	// The servers of a page come in one query, by user and name, each
	// once however often its user is named.
	if _, err := s.StartServer(ctx, gateway.NewServer{User: "u001", Name: "gpu", Cluster: "c", Profile: "p", JobName: "j-u001-gpu"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		users  []string
		states []gateway.ServerState
		want   []string
	}{
		{[]string{"u003", "u001", "u002", "u001", "alice"}, nil, []string{"u001/", "u001/gpu", "u002/", "u003/"}},
		{[]string{"u003", "u001", "u002"}, []gateway.ServerState{gateway.StateReady, gateway.StateQueued}, []string{"u001/", "u002/"}},
		{[]string{"u000", "nobody"}, nil, nil},
	} {
		servers, err := s.ListServers(ctx, gateway.ServerFilter{Users: tc.users, States: tc.states})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, sv := range servers {
			got = append(got, sv.User+"/"+sv.Name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("servers of %v in %v: %v, want %v", tc.users, tc.states, got, tc.want)
		}
	}
	names := func(us []*gateway.User) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.Name)
		}
		return out
	}
	for _, tc := range []struct {
		q     gateway.UserQuery
		first []string // the page's first names
		n     int      // its length
		total int
	}{
		{gateway.UserQuery{Limit: 200}, []string{"alice", "u000", "u001"}, 200, 251},
		{gateway.UserQuery{Offset: 200, Limit: 200}, []string{"u199", "u200"}, 51, 251},
		{gateway.UserQuery{Offset: 300, Limit: 200}, nil, 0, 251},
		{gateway.UserQuery{NameContains: "U24", Limit: 5}, []string{"u240", "u241"}, 5, 10},
		{gateway.UserQuery{NameContains: "49", Limit: 5}, []string{"u049", "u149", "u249"}, 3, 3},
		{gateway.UserQuery{NameContains: "u%", Limit: 5}, nil, 0, 0}, // no pattern syntax
		{gateway.UserQuery{NameContains: "_", Limit: 5}, nil, 0, 0},
		{gateway.UserQuery{Activity: "active", Limit: 200}, []string{"u001", "u002"}, 2, 2},
		{gateway.UserQuery{Activity: "ready", Limit: 200}, []string{"u001"}, 1, 1},
		{gateway.UserQuery{Activity: "inactive", Limit: 3}, []string{"alice", "u000", "u003"}, 3, 249},
	} {
		users, total, err := s.ListUsersPage(ctx, tc.q)
		if err != nil {
			t.Fatalf("%+v: %v", tc.q, err)
		}
		got := names(users)
		if len(got) != tc.n || total != tc.total || !slices.Equal(got[:min(len(tc.first), len(got))], tc.first) {
			t.Errorf("%+v: %d users from %v, total %d; want %d from %v, total %d",
				tc.q, len(got), got[:min(3, len(got))], total, tc.n, tc.first, tc.total)
		}
	}
	if _, _, err := s.ListUsersPage(ctx, gateway.UserQuery{Activity: "busy", Limit: 1}); err == nil {
		t.Error("an unknown activity filter was accepted")
	}

	// Pages are answered from the users cache once read: every write
	// shows in the next page all the same.
	page := func() map[string]*gateway.User {
		t.Helper()
		users, _, err := s.ListUsersPage(ctx, gateway.UserQuery{Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*gateway.User{}
		for _, u := range users {
			out[u.Name] = u
		}
		return out
	}
	before := page() // alice, u000…u003, now cached
	if u := before["u000"]; u == nil || len(u.HubGroups) != 0 || u.HubAdmin || !u.LastActivity.IsZero() {
		t.Fatalf("u000 before: %+v", u)
	}
	if _, err := s.CreateGroup(ctx, "course", []string{"u000"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetHubAdmin(ctx, "u001", true); err != nil {
		t.Fatal(err)
	}
	at := e.clock.Now().Add(time.Minute).UTC().Truncate(time.Microsecond)
	if err := s.TouchUserActivity(ctx, "u000", at); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertUser(ctx, gateway.User{Name: "alice", Groups: []string{"cn=x,dc=org"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "u002"); err != nil {
		t.Fatal(err)
	}
	after := page()
	if u := after["u000"]; u == nil || !slices.Equal(u.HubGroups, []string{"course"}) || !u.LastActivity.Equal(at) {
		t.Errorf("u000 after joining a group and being active: %+v", u)
	}
	if u := after["u001"]; u == nil || !u.HubAdmin {
		t.Errorf("u001 after the admin grant: %+v", u)
	}
	if u := after["alice"]; u == nil || !slices.Equal(u.Groups, []string{"cn=x,dc=org"}) {
		t.Errorf("alice after a login with new groups: %+v", u)
	}
	if _, ok := after["u002"]; ok || len(after) != 5 {
		t.Errorf("after deleting u002: %v", slices.Sorted(maps.Keys(after)))
	}
	// A user changed in the page must not change the cache's copy.
	after["u000"].HubGroups[0] = "changed"
	if u := page()["u000"]; u.HubGroups[0] != "course" {
		t.Errorf("a page's user shares its groups with the cache: %v", u.HubGroups)
	}
}

// BenchmarkListUsersPage: one page of 200 out of 10,000 users with their
// hub groups, and the page's servers (the REST API's list reads both),
// the first and the last page. Run with
// `go test -run '^$' -bench ListUsersPage ./gateway/store`.
func BenchmarkListUsersPage(b *testing.B) {
	ctx := context.Background()
	s, err := OpenWith(ctx, "sqlite://"+b.TempDir()+"/hub.sqlite", OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tx := s.db.MustBegin()
	for i := range 10000 {
		tx.MustExec(s.q("INSERT INTO users (name, created_at) VALUES (?, ?)"), fmt.Sprintf("u%05d", i), ts(s.now()))
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if _, err := s.CreateGroup(ctx, "course", []string{"u00003", "u09850"}); err != nil {
		b.Fatal(err)
	}
	for _, u := range []string{"u00001", "u09900"} {
		if _, err := s.StartServer(ctx, gateway.NewServer{User: u, Cluster: "c", Profile: "p", JobName: "j-" + u}); err != nil {
			b.Fatal(err)
		}
	}
	for _, offset := range []int{0, 9800} {
		b.Run(fmt.Sprint("offset=", offset), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				users, _, err := s.ListUsersPage(ctx, gateway.UserQuery{Offset: offset, Limit: 200})
				if err != nil {
					b.Fatal(err)
				}
				names := make([]string, len(users))
				for i, u := range users {
					names[i] = u.Name
				}
				servers, err := s.ListServers(ctx, gateway.ServerFilter{Users: names})
				if err != nil || len(servers) != 1 {
					b.Fatalf("%d servers, %v", len(servers), err)
				}
			}
		})
	}
}

// decodeNames reads what encoding/json reads, and refuses what it
// refuses: PostgreSQL's and SQLite's arrays, escapes, odd spacing.
func TestDecodeNames(t *testing.T) {
	for _, in := range []string{
		`[]`, ` [ ] `, `["a"]`, `["a","b"]`, `["a", "b"]`, "[\n \"a\" ,\t\"b\" ]", `["a\"b", "c"]`, `["\u00e9"]`,
		"[\"\u00e9\"]", `["a\\b"]`, `[""]`, "[\"\xff\"]",
		`["a""b"]`, `[,"a"]`, `["a",]`, `[`, `"a"`, `["a"] x`, `["a"`, `["a]`, `[1]`, `{}`, `["a",,"b"]`,
	} {
		want, werr := slowNames(in)
		got, err := decodeNames(in)
		if (err != nil) != (werr != nil) || !slices.Equal(got, want) {
			t.Errorf("%q: %q, %v; encoding/json: %q, %v", in, got, err, want, werr)
		}
	}
	if got, err := decodeNames(""); got != nil || err != nil {
		t.Errorf(`"" (NULL): %q, %v`, got, err)
	}
}
