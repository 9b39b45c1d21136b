package web

import (
	"sync"
	"time"
)

// loginLimiter counts failed logins per (username, client address) in a
// sliding window, so a password cannot be guessed quickly from one place,
// while the same user elsewhere (or another user at the same address, a
// shared NAT at a university) can still log in.
type loginLimiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time
	sweep    time.Time
}

func newLoginLimiter(max int, window time.Duration, now func() time.Time) *loginLimiter {
	return &loginLimiter{max: max, window: window, now: now, failures: map[string][]time.Time{}}
}

func limiterKey(user, ip string) string { return user + "\x00" + ip }

// allowed reports whether another attempt may be made now, and if not, how
// long until it may.
func (l *loginLimiter) allowed(user, ip string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	k := limiterKey(user, ip)
	recent := l.prune(k, now)
	if len(recent) < l.max {
		return true, 0
	}
	return false, recent[0].Add(l.window).Sub(now)
}

// failed records a failed attempt.
func (l *loginLimiter) failed(user, ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	k := limiterKey(user, ip)
	l.failures[k] = append(l.prune(k, now), now)
	// Forget idle keys now and then so the map does not grow without bound
	// under a spray of made-up names.
	if now.Sub(l.sweep) > l.window {
		l.sweep = now
		for key := range l.failures {
			l.prune(key, now)
		}
	}
}

// succeeded forgets the failures of a user who got the password right.
func (l *loginLimiter) succeeded(user, ip string) {
	l.mu.Lock()
	delete(l.failures, limiterKey(user, ip))
	l.mu.Unlock()
}

// prune drops failures older than the window and returns the rest; the
// caller holds mu.
func (l *loginLimiter) prune(k string, now time.Time) []time.Time {
	f := l.failures[k]
	i := 0
	for i < len(f) && now.Sub(f[i]) >= l.window {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(l.failures, k)
		return nil
	}
	l.failures[k] = f
	return f
}
