package store

import (
	"slices"
	"strings"
	"sync"
	"time"

	"hpcgate/gateway"
)

// identityCache answers the lookups every request makes — its API token
// by hash, its session, the user behind them — from memory, so that a
// request costs no database round trip once its credential was seen.
//
// Correctness rests on one rule: every statement in this package that
// deletes or changes a token, a session or a user runs through change
// (forget.go), which forgets what it names after the commit (revocation, logout, token deletion,
// the directory's rights refresh through RevokeUserAccess and UpsertUser,
// a deleted user, a server reset deleting its token). Expiry needs no
// invalidation: every hit checks the expiry time, as the query did. A
// lookup that raced an invalidation (it read the row before the delete
// committed) does not store what it read: fills carry the generation seen
// before the query and are dropped if it moved.
//
// With a second hub replica on the same PostgreSQL, each replica's cache
// also hears the other's revocations (replica.go): change issues
// `NOTIFY hpcgate_identity` inside the changing transaction, which
// PostgreSQL delivers at its commit, and each replica's listener forgets
// what it hears from the others. While
// the listener's connection is down the cache is deaf: it stores nothing
// (every lookup reads the database) and was emptied, since notifications
// may be missed; it is emptied again when the listener is back. SQLite has
// a single hub by construction, so this process's calls are all there is.
type identityCache struct {
	mu       sync.Mutex
	gen      uint64                     // moved by every invalidation
	tokens   map[string]gateway.Token   // by the token's hash
	sessions map[string]gateway.Session // by the hash of the session id
	users    map[string]gateway.User    // by name
	// deaf: another replica's revocation could go unheard, so nothing is
	// stored (replica.go).
	deaf bool
}

// maxIdentities bounds each map: past it the map is emptied and refills
// from the database. Only credentials that exist are stored, so a client
// guessing tokens cannot fill it.
const maxIdentities = 100_000

func (c *identityCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *identityCache) token(hash string) (*gateway.Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tokens[hash]
	if !ok {
		return nil, false
	}
	t.Scopes = slices.Clone(t.Scopes)
	return &t, true
}

func (c *identityCache) putToken(gen uint64, hash string, t *gateway.Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || c.deaf {
		return
	}
	if c.tokens == nil || len(c.tokens) >= maxIdentities {
		c.tokens = map[string]gateway.Token{}
	}
	v := *t
	v.Scopes = slices.Clone(t.Scopes)
	c.tokens[hash] = v
}

// tokenSeen moves a cached token's last use, as the background write will.
func (c *identityCache) tokenSeen(hash string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.tokens[hash]; ok {
		t.LastUsed = at
		c.tokens[hash] = t
	}
}

func (c *identityCache) session(key string) (*gateway.Session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sessions[key]
	return &s, ok
}

func (c *identityCache) putSession(gen uint64, key string, s *gateway.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || c.deaf {
		return
	}
	if c.sessions == nil || len(c.sessions) >= maxIdentities {
		c.sessions = map[string]gateway.Session{}
	}
	c.sessions[key] = *s
}

func (c *identityCache) sessionSeen(key string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.sessions[key]; ok {
		s.LastSeen = at
		c.sessions[key] = s
	}
}

func (c *identityCache) user(name string) (*gateway.User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.users[name]
	if !ok {
		return nil, false
	}
	u.Groups, u.HubGroups = slices.Clone(u.Groups), slices.Clone(u.HubGroups)
	return &u, true
}

func (c *identityCache) putUser(gen uint64, u *gateway.User) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || c.deaf {
		return
	}
	if c.users == nil || len(c.users) >= maxIdentities {
		c.users = map[string]gateway.User{}
	}
	v := *u
	v.Groups, v.HubGroups = slices.Clone(u.Groups), slices.Clone(u.HubGroups)
	c.users[u.Name] = v
}

// forget applies f here. Credentials are forgotten all at once after a
// revocation, a logout, a deleted token: revocations are rare next to
// requests, so forgetting all (and refilling) is simpler than finding
// which entries a statement touched — and cannot miss one.
func (c *identityCache) forget(f forget) {
	if f.creds {
		c.forgetCredentials()
	}
	for _, u := range f.users {
		c.forgetUser(u)
	}
}

func (c *identityCache) forgetCredentials() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.tokens, c.sessions = nil, nil
}

func (c *identityCache) forgetUser(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.users, name)
}

// heard applies what another replica's change told to forget (forget.go).
func (c *identityCache) heard(msg string) {
	if name, ok := strings.CutPrefix(msg, "u "); ok {
		c.forgetUser(name)
	} else {
		c.forgetCredentials() // "c", or a word of a newer version: forgetting all is safe
	}
}

// setDeaf empties the cache and, while deaf, keeps it empty: the
// listener lost its connection (deaf) or has it back after a gap in
// which notifications may have been missed (not deaf).
func (c *identityCache) setDeaf(deaf bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.tokens, c.sessions, c.users = nil, nil, nil
	c.deaf = deaf
}
