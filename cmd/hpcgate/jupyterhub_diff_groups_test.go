package main

// groupAndUserSteps is the differential script's part for user
// management and groups (POST|PATCH|DELETE /hub/api/users…,
// /hub/api/groups…): the same calls, as an admin (carol) and as a user
// (alice), against JupyterHub 3.0 and hpcgate. The users made here are
// hub records that LDAP does not know; the groups are hub groups (the
// users' LDAP groups, which JupyterHub does not have, come after them in
// hpcgate's lists, so the first item compared is a hub group on both).
func groupAndUserSteps(do func(who, method, path, body string, header ...string) []byte) {
	// Users.
	do("carol", "POST", "/hub/api/users", `{"usernames": ["diffuser1", "diffuser2"]}`)
	do("carol", "POST", "/hub/api/users", `{"usernames": ["diffuser1"]}`)
	do("carol", "POST", "/hub/api/users", `{"usernames": []}`)
	do("alice", "POST", "/hub/api/users", `{"usernames": ["diffuser9"]}`)
	do("carol", "POST", "/hub/api/users/diffuser3", `{}`)
	do("carol", "POST", "/hub/api/users/diffuser3", `{}`)
	do("alice", "POST", "/hub/api/users/diffuser4", `{}`)
	do("carol", "PATCH", "/hub/api/users/diffuser3", `{"admin": true}`)
	do("carol", "GET", "/hub/api/users/diffuser3", "")
	do("alice", "PATCH", "/hub/api/users/alice", `{"admin": true}`)
	do("carol", "PATCH", "/hub/api/users/nobody", `{"admin": true}`)
	do("carol", "DELETE", "/hub/api/users/diffuser3", "")
	do("carol", "DELETE", "/hub/api/users/diffuser3", "")
	do("carol", "DELETE", "/hub/api/users/carol", "")
	do("alice", "DELETE", "/hub/api/users/diffuser1", "")

	// Groups.
	do("carol", "POST", "/hub/api/groups/diffgroup", `{"users": ["alice"]}`)
	do("carol", "POST", "/hub/api/groups/diffgroup", `{}`)
	do("carol", "GET", "/hub/api/groups/diffgroup", "")
	do("carol", "GET", "/hub/api/groups", "")
	do("carol", "GET", "/hub/api/groups?limit=1", "", "Accept", "application/jupyterhub-pagination+json")
	do("carol", "POST", "/hub/api/groups/diffgroup/users", `{"users": ["diffuser1"]}`)
	do("carol", "DELETE", "/hub/api/groups/diffgroup/users", `{"users": ["alice"]}`)
	do("carol", "POST", "/hub/api/groups/diffgroup/users", `{"users": ["nobody"]}`)
	do("carol", "POST", "/hub/api/groups/diffgroup/users", `{}`)
	do("carol", "POST", "/hub/api/groups", `{"groups": ["diffg2", "diffg3"], "users": ["diffuser2"]}`)
	do("carol", "POST", "/hub/api/groups", `{}`)
	do("carol", "GET", "/hub/api/users/diffuser2", "")
	do("alice", "GET", "/hub/api/groups", "")
	do("alice", "GET", "/hub/api/groups/diffgroup", "")
	do("alice", "POST", "/hub/api/groups/diffgroup/users", `{"users": ["alice"]}`)
	do("carol", "DELETE", "/hub/api/groups/diffgroup", "")
	do("carol", "GET", "/hub/api/groups/diffgroup", "")
	do("carol", "DELETE", "/hub/api/groups/nosuch", "")
}
