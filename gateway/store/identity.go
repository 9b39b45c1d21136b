package store

import (
	"slices"
	"sync"
	"time"

	"hpcgate/gateway"
)

// identityCache answers the lookups every request makes — its API token
// by hash, its session, the user behind them — from memory, so that a
// request costs no database round trip once its credential was seen.
//
// Correctness rests on one rule: every statement in this package that
// deletes or changes a token, a session or a user calls one of the
// invalidate methods after it commits (revocation, logout, token deletion,
// the directory's rights refresh through RevokeUserAccess and UpsertUser,
// a deleted user, a server reset deleting its token). Expiry needs no
// invalidation: every hit checks the expiry time, as the query did. A
// lookup that raced an invalidation (it read the row before the delete
// committed) does not store what it read: fills carry the generation seen
// before the query and are dropped if it moved.
//
// With a second hub replica on the same PostgreSQL, each replica's cache
// must also hear the other's revocations. The way to do it: every
// invalidate also runs `NOTIFY hpcgate_identity, '<kind>:<key>'` in the
// transaction that revoked (PostgreSQL delivers it only on commit), and
// each replica holds one connection in `LISTEN hpcgate_identity`
// (lib/pq's Listener) that calls the same invalidate method for what it
// hears; when that connection drops, the replica clears everything, since
// it may have missed notifications. SQLite has a single hub by
// construction, so this process's calls are all there is.
type identityCache struct {
	mu       sync.Mutex
	gen      uint64                     // moved by every invalidation
	tokens   map[string]gateway.Token   // by the token's hash
	sessions map[string]gateway.Session // by the hash of the session id
	users    map[string]gateway.User    // by name
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
	if gen != c.gen {
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
	if gen != c.gen {
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
	if gen != c.gen {
		return
	}
	if c.users == nil || len(c.users) >= maxIdentities {
		c.users = map[string]gateway.User{}
	}
	v := *u
	v.Groups, v.HubGroups = slices.Clone(u.Groups), slices.Clone(u.HubGroups)
	c.users[u.Name] = v
}

// invalidateCredentials forgets every token and session: after a
// revocation, a logout, a deleted token. Revocations are rare next to
// requests, so forgetting all (and refilling) is simpler than finding
// which entries a statement touched — and cannot miss one.
func (c *identityCache) invalidateCredentials() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.tokens, c.sessions = nil, nil
}

// invalidateUser forgets a user (their admin flag, groups or activity
// changed, or they were deleted).
func (c *identityCache) invalidateUser(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.users, name)
}
