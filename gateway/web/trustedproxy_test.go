package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestLoginRateLimitBehindProxy: behind a TLS terminator every request
// comes from the proxy's address. With hub.trusted_proxies naming it, the
// login limiter counts per client (from X-Forwarded-For), so someone
// guessing alice's password from one place does not lock her out from
// another; without it, X-Forwarded-For is the client's own claim and is
// ignored, so it cannot be used to dodge the limit.
func TestLoginRateLimitBehindProxy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []string
		// wantOther is the status of a wrong password from a second
		// client after five failures from the first.
		wantOther int
	}{
		{"proxy trusted", []string{"127.0.0.1/32"}, http.StatusForbidden},
		{"no proxy trusted", nil, http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(_ *Options, s *siteSettings) { s.trustedProxies = tc.trusted })
			b := e.browser()
			try := func(client, password string) int {
				tok := b.xsrf("/hub/login")
				form := url.Values{"_xsrf": {tok}, "username": {"alice"}, "password": {password}}
				resp, _ := b.do("POST", "/hub/login", strings.NewReader(form.Encode()), http.Header{
					"Content-Type":    {"application/x-www-form-urlencoded"},
					"Origin":          {e.ts.URL},
					"X-Forwarded-For": {client},
				})
				return resp.StatusCode
			}
			for i := 0; i < 5; i++ {
				if code := try("203.0.113.7", "wrong"); code != http.StatusForbidden {
					t.Fatalf("attempt %d: %d, want 403", i+1, code)
				}
			}
			if code := try("203.0.113.7", "wrong"); code != http.StatusTooManyRequests {
				t.Errorf("6th attempt from the same client: %d, want 429", code)
			}
			if code := try("198.51.100.9", "wrong"); code != tc.wantOther {
				t.Errorf("another client after the first was limited: %d, want %d", code, tc.wantOther)
			}
		})
	}
}
