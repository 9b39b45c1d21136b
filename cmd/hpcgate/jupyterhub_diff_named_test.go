package main

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
)

// diffSiteExtra is the hpcgate side's named servers and service, as the
// reference hub's allow_named_servers, named_server_limit_per_user and
// services (jupyterhubConfig): the service's url and token file.
const diffSiteExtra = `named_servers:
  enabled: true
  limit_per_user: 1
services:
  - name: ext
    url: %s
    api_token_file: %s
`

// diffServiceToken is the external service's API token, the same on
// both sides.
func diffServiceToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "ext-" + hex.EncodeToString(b)
}

// namedServerSteps is the script's part for named servers (limit 1 on
// both sides): start one and see it in the user model, the errors
// JupyterHub 3.0 gives (already running, over the limit, unknown name,
// the default server not removable), stop it, list it as stopped, remove
// it. "Named servers are not enabled" cannot be compared here: one hub
// cannot have them both on and off (gateway/web tests it).
func namedServerSteps(t *testing.T, tg target, do func(who, method, path, body string, header ...string) []byte, record func(string, int, []byte)) {
	t.Helper()
	status, b := tg.call(t, "alice", "POST", "/hub/api/users/alice/servers/gpu", "{}")
	if status == 201 || status == 202 {
		status = 202
	}
	record("alice POST /hub/api/users/alice/servers/gpu", status, b)
	tg.waitNamed(t, "gpu", func(s map[string]any) bool { return s != nil && s["ready"] == true }, "ready")
	do("alice", "GET", "/hub/api/users/alice", "")
	do("carol", "GET", "/hub/api/users/alice", "")
	do("alice", "POST", "/hub/api/users/alice/servers/gpu", "{}")    // already running
	do("alice", "POST", "/hub/api/users/alice/servers/second", "{}") // over the limit
	// A name hpcgate refuses (longer than 32 characters). JupyterHub 3.0
	// checks no name and would start it, so it is sent while the limit
	// is full, where both answer 400: hpcgate for the name, JupyterHub
	// for the limit.
	do("alice", "POST", "/hub/api/users/alice/servers/"+strings.Repeat("n", 40), "{}")
	do("alice", "DELETE", "/hub/api/users/alice/servers/nosuch", "")
	do("alice", "DELETE", "/hub/api/users/alice/server", `{"remove": true}`) // the default server
	do("carol", "GET", "/hub/api/proxy", "")
	status, b = tg.call(t, "alice", "DELETE", "/hub/api/users/alice/servers/gpu", "")
	if status == 202 || status == 204 {
		status = 204
	}
	record("alice DELETE /hub/api/users/alice/servers/gpu", status, b)
	tg.waitNamed(t, "gpu", func(s map[string]any) bool { return s == nil }, "gone")
	do("alice", "GET", "/hub/api/users/alice", "")
	do("alice", "GET", "/hub/api/users/alice?include_stopped_servers", "")
	do("alice", "DELETE", "/hub/api/users/alice/servers/gpu", `{"remove": true}`)
	do("alice", "DELETE", "/hub/api/users/alice/servers/gpu", "")
	do("alice", "GET", "/hub/api/users/alice?include_stopped_servers", "")
}

// serviceSteps is the script's part for the external service "ext": its
// models as an admin and a user see them, and what its own token is.
func serviceSteps(do func(who, method, path, body string, header ...string) []byte) {
	do("carol", "GET", "/hub/api/services", "")
	do("carol", "GET", "/hub/api/services/ext", "")
	// Not /hub/api/services/<unknown>: JupyterHub 3.0 answers it with a
	// 500 (a KeyError), hpcgate with 404.
	do("alice", "GET", "/hub/api/services", "")
	do("alice", "GET", "/hub/api/services/ext", "")
	do("ext", "GET", "/hub/api/user", "")
	do("ext", "GET", "/hub/api/services/ext", "")
	do("ext", "GET", "/hub/api/users", "")
	do("ext", "GET", "/hub/api/users/alice", "")
}
