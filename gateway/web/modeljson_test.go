package web

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"
)

// The hand-written encoders write what encoding/json writes for the same
// values: a server model byte for byte (its struct is the reference), a
// user model key for key and value for value (a map with the model's keys
// is the reference), hostile strings and odd times included.
func TestModelJSONMatchesEncodingJSON(t *testing.T) {
	hostile := "a\"b\\c<d>&e\u00e9\u2028\x01\xff"
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	whole := time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	servers := []*serverModel{
		{Name: "", URL: "/user/a/", UserOptions: map[string]string{}, ProgressURL: "/p", HPCGate: &batchFields{}},
		{Name: hostile, LastActivity: &at, Started: &whole, Pending: strPtr("spawn"), Ready: true, Stopped: false,
			URL: "/user/a/" + hostile + "/", UserOptions: map[string]string{"walltime": "1h0m0s", "cores": "2", hostile: hostile},
			ProgressURL: "/hub/api/users/a/servers/x/progress", State: &spawnerState{JobID: "42", JobStatus: "ready"},
			HPCGate: &batchFields{Cluster: "c", Profile: hostile, JobID: "42", State: "ready", Node: "n1", Reason: "Resources",
				Submitted: &at, EstimatedStart: &whole, WalltimeSeconds: 3600, WalltimeLeftSeconds: -5}},
		{Name: "nil-options", HPCGate: nil},
	}
	for _, sv := range servers {
		want, err := json.Marshal(sv)
		if err != nil {
			t.Fatal(err)
		}
		if got := sv.appendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("server %q:\n got %s\nwant %s", sv.Name, got, want)
		}
	}

	for _, m := range []*userModel{
		{keys: keyKind | keyName | keyAdmin | keyRoles | keyGroups | keyServer | keyPending | keyCreated | keyLastActivity,
			Name: "alice", Admin: true, Groups: []string{}, Created: &at},
		{keys: keyKind | keyName | keyGroups, Name: hostile, Groups: []string{hostile, "b"}},
		// One odd character each, so no string's escaping hides another's.
		{keys: keyKind | keyName | keyGroups, Name: "x<y", Groups: []string{"a>b", "a&b", `a"b`, `a\b`, "a\u2028b", "a\x01b", "a\xffb", "aéb", "a\tb"}},
		{keys: keyKind | keyName | keyGroups | keyLastActivity, Name: "nil-groups", LastActivity: &whole},
		{keys: keyKind | keyName | keyServers, Name: "no-servers"},
		{keys: keyKind | keyName | keyServers | keyServer | keyPending | keyAuthState, Name: "bob",
			Server: strPtr("/user/bob/"), Pending: strPtr("stop"), Servers: servers},
		{keys: keyKind | keyName | keyAdmin | keyRoles, Name: "self", self: &selfKeys{Scopes: []string{"read:users!user=self"}}},
		{keys: keyKind | keyName, Name: "self-empty", self: &selfKeys{Scopes: []string{}, SessionID: strPtr("s1")}},
	} {
		ref := map[string]any{}
		set := func(k userKeys, name string, v any) {
			if m.keys&k != 0 {
				ref[name] = v
			}
		}
		roles := []string{"user"}
		if m.Admin {
			roles = append(roles, "admin")
		}
		servers := map[string]*serverModel{}
		for _, sv := range m.Servers {
			servers[sv.Name] = sv
		}
		set(keyKind, "kind", "user")
		set(keyName, "name", m.Name)
		set(keyAdmin, "admin", m.Admin)
		set(keyRoles, "roles", roles)
		set(keyGroups, "groups", m.Groups)
		set(keyServer, "server", m.Server)
		set(keyPending, "pending", m.Pending)
		set(keyCreated, "created", m.Created)
		set(keyLastActivity, "last_activity", m.LastActivity)
		set(keyAuthState, "auth_state", nil)
		set(keyServers, "servers", servers)
		if m.self != nil {
			ref["scopes"], ref["session_id"] = m.self.Scopes, m.self.SessionID
		}
		want := rawKeys(t, mustJSON(t, ref))
		got := rawKeys(t, m.appendJSON(nil))
		if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
			t.Errorf("user %q: keys %v, want %v", m.Name, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
			continue
		}
		for k, w := range want {
			if k == "servers" {
				// A map's keys come sorted, as the model's servers are.
				w = mustJSON(t, servers)
			}
			if !bytes.Equal(got[k], w) {
				t.Errorf("user %q, %s:\n got %s\nwant %s", m.Name, k, got[k], w)
			}
		}
	}

	var nilModel *userModel
	if got := string(userList{nilModel, {keys: keyName, Name: "x"}}.appendJSON(nil)); got != `[null,{"name":"x"}]` {
		t.Errorf("list with a nil model: %s", got)
	}
	if got := string(userList(nil).appendJSON(nil)); got != `[]` {
		t.Errorf("empty list: %s", got)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawKeys splits a JSON object into its keys' raw values, failing on
// invalid JSON or a key given twice.
func rawKeys(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("invalid JSON: %s", b)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", b)
	}
	out := map[string][]byte{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		k := tok.(string)
		if _, dup := out[k]; dup {
			t.Fatalf("key %q twice in %s", k, b)
		}
		out[k] = v
	}
	return out
}
