package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const testSecret = "s3cr3t-s3cr3t-s3cr3t-0123456789"

// appRoute serves alice's default server from h, authenticated with app.
func appRoute(t *testing.T, app *App, h http.HandlerFunc) *Proxy {
	t.Helper()
	p := New(Config{})
	s := upstream(t, h)
	host, port := hostPort(t, s)
	if err := p.Routes().Set("alice", "", Target{Host: host, Port: port, App: app}); err != nil {
		t.Fatal(err)
	}
	return p
}

func serve(p *Proxy, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	p.ServeRoute(w, r, "alice", "")
	return w
}

// TestAppPresentsSecret: each way of presenting reaches the app with the
// secret, replacing what the browser sent, and strips the prefix.
func TestAppPresentsSecret(t *testing.T) {
	for _, tc := range []struct {
		name string
		app  App
		req  func(*http.Request)
		want func(*http.Request) string // "" if the app got what it should
	}{
		{"header", App{Header: "Authorization", HeaderValue: "token " + testSecret, Prefix: "/user/alice/"},
			func(r *http.Request) { r.Header.Set("Authorization", "token forged") },
			func(r *http.Request) string {
				if r.Header.Get("Authorization") != "token "+testSecret || r.URL.Path != "/user/alice/api" {
					return r.Header.Get("Authorization") + " " + r.URL.Path
				}
				return ""
			}},
		{"cookie", App{Cookie: "code-server-session", Prefix: "/user/alice/", Strip: true},
			func(r *http.Request) { r.Header.Set("Cookie", "code-server-session=forged; other=1") },
			func(r *http.Request) string {
				c := r.Header.Values("Cookie")
				if len(c) != 1 || c[0] != "other=1; code-server-session="+testSecret || r.URL.Path != "/api" {
					return strings.Join(c, "|") + " " + r.URL.Path
				}
				return ""
			}},
		{"query", App{Query: "token", Prefix: "/user/alice/", Strip: true},
			func(r *http.Request) { r.URL.RawQuery = "token=forged&x=1" },
			func(r *http.Request) string {
				if r.URL.RawQuery != "x=1&token="+testSecret || r.URL.Path != "/api" {
					return r.URL.RawQuery + " " + r.URL.Path
				}
				return ""
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := tc.app
			app.Secret = testSecret
			got := make(chan string, 1)
			p := appRoute(t, &app, func(w http.ResponseWriter, r *http.Request) { got <- tc.want(r) })
			r := httptest.NewRequest("GET", "/user/alice/api", nil)
			tc.req(r)
			if w := serve(p, r); w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			if bad := <-got; bad != "" {
				t.Errorf("app got %s", bad)
			}
		})
	}
}

// TestAppKeepsSecretFromBrowser: a Set-Cookie of the presented cookie, any
// header naming the secret, and a redirect carrying it never reach the
// browser; a stripped app's redirect goes back under the prefix.
func TestAppKeepsSecretFromBrowser(t *testing.T) {
	app := &App{Secret: testSecret, Query: "token", Cookie: "", Prefix: "/user/alice/", Strip: true}
	p := appRoute(t, app, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "sess="+testSecret+"; Path=/")
		w.Header().Add("Set-Cookie", "theme=dark")
		w.Header().Set("X-Echo", "token="+testSecret)
		http.Redirect(w, r, "/login?x=1&token="+testSecret, http.StatusFound)
	})
	w := serve(p, httptest.NewRequest("GET", "/user/alice/x", nil))
	for k, vs := range w.Header() {
		for _, v := range vs {
			if strings.Contains(v, testSecret) {
				t.Errorf("%s: %s reached the browser", k, v)
			}
		}
	}
	if got := w.Header().Get("Location"); got != "/user/alice/login?x=1" {
		t.Errorf("Location %q, want /user/alice/login?x=1", got)
	}
	if got := w.Header().Values("Set-Cookie"); len(got) != 1 || got[0] != "theme=dark" {
		t.Errorf("Set-Cookie %q, want only theme=dark", got)
	}

	cookieApp := &App{Secret: testSecret, Cookie: "code-server-session", Prefix: "/user/alice/"}
	p = appRoute(t, cookieApp, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "code-server-session=anything; Path=/")
		io.WriteString(w, "ok")
	})
	if got := serve(p, httptest.NewRequest("GET", "/user/alice/", nil)).Header().Values("Set-Cookie"); len(got) != 0 {
		t.Errorf("Set-Cookie %q reached the browser", got)
	}
}

// TestAppOpen: the bare prefix goes to the app's open path; anything else
// is forwarded.
func TestAppOpen(t *testing.T) {
	app := &App{Secret: testSecret, Header: "Authorization", HeaderValue: "token " + testSecret, Prefix: "/user/alice/", Open: "tree"}
	p := appRoute(t, app, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) })
	for path, want := range map[string]string{"/user/alice/": "/user/alice/tree", "/user/alice": "/user/alice/tree"} {
		w := serve(p, httptest.NewRequest("GET", path, nil))
		if w.Code != http.StatusFound || w.Header().Get("Location") != want {
			t.Errorf("GET %s: %d %q, want 302 %s", path, w.Code, w.Header().Get("Location"), want)
		}
	}
	if w := serve(p, httptest.NewRequest("GET", "/user/alice/tree", nil)); w.Code != 200 || w.Body.String() != "/user/alice/tree" {
		t.Errorf("GET tree: %d %q", w.Code, w.Body.String())
	}
}
