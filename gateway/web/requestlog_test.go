package web

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
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
