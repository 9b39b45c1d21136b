package web

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"hpcgate/gateway"
)

// TestProxiedRequestsLoggedAtDebug: at the default level the hub's own
// requests get a line each, proxied ones none, not even when the app
// answers 500 (the proxy's metrics count those); at debug they do.
func TestProxiedRequestsLoggedAtDebug(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		t.Run(level.String(), func(t *testing.T) {
			var buf syncBuffer
			e := newEnv(t, withLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))))
			e.hub.ServeProxyFn = func(w http.ResponseWriter, r *http.Request, user, server string) {
				if strings.HasSuffix(r.URL.Path, "/boom") {
					http.Error(w, "boom", http.StatusInternalServerError)
					return
				}
				w.Write([]byte("ok"))
			}
			tok := e.apiToken("alice", TokenUser, 0, time.Time{})
			for _, path := range []string{"/user/alice/api/status", "/user/alice/boom"} {
				e.api("GET", path, tok, "")
			}
			e.api("GET", "/hub/api/user", tok, "")

			lines := buf.String()
			if !strings.Contains(lines, `msg="http request" method=GET path=/hub/api/user status=200`) {
				t.Errorf("no line for the hub's own request:\n%s", lines)
			}
			proxied := strings.Count(lines, "path=/user/alice/")
			if want := map[slog.Level]int{slog.LevelInfo: 0, slog.LevelDebug: 2}[level]; proxied != want {
				t.Errorf("%d lines for proxied requests at %s; want %d:\n%s", proxied, level, want, lines)
			}
			if level == slog.LevelInfo && strings.Contains(lines, "level=ERROR") {
				t.Errorf("the app's 500 was logged as the hub's error:\n%s", lines)
			}
		})
	}
}

// TestPprofOffByDefault: without hub.debug_endpoints the profiler is not
// there, even for an admin; with it, an admin gets the index and a heap
// profile. (Who else is refused is in the route matrix.)
func TestPprofOffByDefault(t *testing.T) {
	for _, on := range []bool{false, true} {
		opts := []envOption{}
		if on {
			opts = append(opts, withDebugEndpoints())
		}
		e := newEnv(t, opts...)
		if _, err := e.store.UpsertUser(context.Background(), gateway.User{Name: "carol", Admin: true}); err != nil {
			t.Fatal(err)
		}
		tok := e.apiToken("carol", TokenUser, 0, time.Time{})
		for _, path := range []string{"/hub/debug/pprof/", "/hub/debug/pprof/heap"} {
			resp, body := e.api("GET", path, tok, "")
			want := map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[on]
			if resp.StatusCode != want {
				t.Errorf("debug_endpoints %v: GET %s as an admin: %d; want %d", on, path, resp.StatusCode, want)
			}
			if on && path == "/hub/debug/pprof/" && !strings.Contains(body, "goroutine") {
				t.Errorf("the index does not list the profiles: %.200s", body)
			}
		}
	}
}
