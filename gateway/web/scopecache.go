package web

import (
	"strings"
	"sync"
)

// scopeCache remembers expanded scope sets by everything they were
// computed from. Expanding JupyterHub's scopes for every proxied request
// was a twentieth of the hub's CPU under load; the inputs (a user's
// admin flag, groups and workshop grants, a token's kind and scopes)
// change rarely, and a change is a new key, so an answer is never stale
// and nothing needs invalidating. The sets handed out are shared: callers
// must not modify them (intersect and withIdentifyScopes copy).
type scopeCache struct {
	mu sync.RWMutex
	m  map[string]scopeSet
}

// scopeCacheMax bounds the cache; past it the cache starts over, which
// costs one expansion per distinct caller.
const scopeCacheMax = 8192

func (c *scopeCache) get(key string, compute func() scopeSet) scopeSet {
	c.mu.RLock()
	set, ok := c.m[key]
	c.mu.RUnlock()
	if ok {
		return set
	}
	set = compute()
	c.mu.Lock()
	if c.m == nil || len(c.m) >= scopeCacheMax {
		c.m = make(map[string]scopeSet)
	}
	c.m[key] = set
	c.mu.Unlock()
	return set
}

// scopeKey joins the parts of a cache key with a byte no scope, user
// name or group name contains.
func scopeKey(parts ...string) string { return strings.Join(parts, "\x00") }
