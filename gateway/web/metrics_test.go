package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"hpcgate/gateway"
)

func withMetrics(m *gateway.Metrics) envOption {
	return func(o *Options, _ *siteSettings) { o.Metrics = m }
}

// scopedToken makes an API token for user carrying scopes.
func (e *env) scopedToken(user string, scopes ...string) string {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.store.EnsureUser(ctx, user); err != nil {
		e.t.Fatal(err)
	}
	plain, _, err := e.store.NewToken(ctx, gateway.TokenSpec{User: user, Kind: gateway.TokenAPI, Scopes: scopes})
	if err != nil {
		e.t.Fatal(err)
	}
	return plain
}

func TestMetricsAccess(t *testing.T) {
	e := newEnv(t, withMetrics(gateway.NewMetrics()))
	carol := e.browser()
	carol.login("carol", "carol-pass")
	alice := e.browser()
	alice.login("alice", "alice-pass")
	tests := []struct {
		name   string
		get    func() *http.Response
		status int
	}{
		{"no credentials", func() *http.Response { r, _ := e.api("GET", "/hub/metrics", "", ""); return r }, http.StatusForbidden},
		{"a user's token", func() *http.Response {
			r, _ := e.api("GET", "/hub/metrics", e.apiToken("alice", TokenUser, 0, time.Time{}), "")
			return r
		}, http.StatusForbidden},
		{"an unknown token", func() *http.Response { r, _ := e.api("GET", "/hub/metrics", "not-a-token", ""); return r }, http.StatusForbidden},
		{"an admin's server token", func() *http.Response { r, _ := e.api("GET", "/hub/metrics", e.serverToken("carol"), ""); return r }, http.StatusForbidden},
		{"a user's session", func() *http.Response { r, _ := alice.get("/hub/metrics"); return r }, http.StatusForbidden},
		{"an admin's token", func() *http.Response {
			r, _ := e.api("GET", "/hub/metrics", e.apiToken("carol", TokenUser, 0, time.Time{}), "")
			return r
		}, http.StatusOK},
		{"a user's token with read:metrics", func() *http.Response {
			r, _ := e.api("GET", "/hub/metrics", e.scopedToken("bob", "read:metrics"), "")
			return r
		}, http.StatusOK},
		{"a token with other scopes", func() *http.Response {
			r, _ := e.api("GET", "/hub/metrics", e.scopedToken("bob", "read:users"), "")
			return r
		}, http.StatusForbidden},
		{"an admin's token limited to other scopes", func() *http.Response {
			r, _ := e.api("GET", "/hub/metrics", e.scopedToken("carol", "read:users"), "")
			return r
		}, http.StatusForbidden},
		{"an admin's session", func() *http.Response { r, _ := carol.get("/hub/metrics"); return r }, http.StatusOK},
	}
	for _, tt := range tests {
		if got := tt.get().StatusCode; got != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.status)
		}
	}

	// metrics_public opens it to anyone.
	e.cfg.Hub.MetricsPublic = true
	if resp, _ := e.api("GET", "/hub/metrics", "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("metrics_public, no credentials: %d, want 200", resp.StatusCode)
	}

	// Without metrics there is nothing to serve.
	bare := newEnv(t)
	bare.cfg.Hub.MetricsPublic = true
	if resp, _ := bare.api("GET", "/hub/metrics", "", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("no metrics: %d, want 404", resp.StatusCode)
	}
}

// TestMetricsCountLogins logs in every way a login can end and reads the
// counts back through the Prometheus text parser.
func TestMetricsCountLogins(t *testing.T) {
	e := newEnv(t, withMetrics(gateway.NewMetrics()))
	try := func(user, password string) {
		b := e.browser()
		tok := b.xsrf("/hub/login")
		b.post("/hub/login", url.Values{"_xsrf": {tok}, "username": {user}, "password": {password}})
	}
	try("alice", "alice-pass")
	try("bob", "bob-pass")
	for range 5 {
		try("bob", "wrong")
	}
	try("bob", "wrong") // the sixth within a minute waits
	try("dave", "dave-pass")
	try("down", "x")

	resp, body := e.api("GET", "/hub/metrics", e.apiToken("carol", TokenUser, 0, time.Time{}), "")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /hub/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("the metrics do not parse: %v\n%s", err, body)
	}
	for _, name := range []string{"hpcgate_logins_total", "go_goroutines", "process_resident_memory_bytes"} {
		if families[name] == nil {
			t.Errorf("metric %s missing", name)
		}
	}
	got := map[string]float64{}
	if f := families["hpcgate_logins_total"]; f != nil {
		if f.GetType().String() != "COUNTER" {
			t.Errorf("hpcgate_logins_total is a %s", f.GetType())
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					got[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	want := map[string]float64{"ok": 2, "invalid": 5, "rate_limited": 1, "not_allowed": 1, "unavailable": 1}
	for outcome, n := range want {
		if got[outcome] != n {
			t.Errorf("hpcgate_logins_total{outcome=%q} = %v, want %v", outcome, got[outcome], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
}
