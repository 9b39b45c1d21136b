package proxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// rawGet sends uri as the request target exactly, which http.Client would
// normalize, and returns the response body.
func rawGet(t *testing.T, addr, uri string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", uri, addr)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

func TestPathAndQueryKeptByteForByte(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.RequestURI)
	}))
	p, fr := front(t, Config{})
	setRoute(t, p, "alice", up)
	addr := fr.Listener.Addr().String()

	for _, uri := range []string{
		"/user/alice/",
		"/user/alice/tree?foo=bar&x=1",
		"/user/alice/files/a%2Fb/c.txt",                   // encoded slash
		"/user/alice/files/%C3%A9t%C3%A9.ipynb",           // UTF-8, upper-case hex
		"/user/alice/files/%c3%a9t%c3%a9.ipynb",           // UTF-8, lower-case hex
		"/user/alice/api/contents/%E6%97%A5%E6%9C%AC%20x", // CJK and a space
		"/user/alice/lab?path=a%2Fb&reset",                // key without value
		"/user/alice/a+b/%2B?q=a+b%2B%26",                 // plus signs both ways
		"/user/alice/x?a=1;b=2",                           // ReverseProxy alone re-encodes this
		"/user/alice/x?q=%zz",                             // and this
		"/user/alice/x?",                                  // empty query
		"/user/alice/api/kernels/1d2e-3f?session_id=abc&_=1712345678901",
	} {
		t.Run(uri, func(t *testing.T) {
			status, got := rawGet(t, addr, uri)
			if status != http.StatusOK {
				t.Fatalf("status %d; body %q", status, got)
			}
			if got != uri {
				t.Errorf("server got request target %q; want %q", got, uri)
			}
		})
	}
}

func TestForwardedHeaders(t *testing.T) {
	for _, tc := range []struct {
		name             string
		trust            []netip.Prefix
		sent             http.Header
		wantFor          string // "%s" is the client's address
		wantProto, wantH string // "%s" is the hub's host
	}{
		{
			name:      "plain",
			wantFor:   "%s",
			wantProto: "http",
			wantH:     "%s",
		},
		{
			name:      "client claims are dropped",
			sent:      http.Header{"X-Forwarded-For": {"10.9.9.9"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil.example"}},
			wantFor:   "%s",
			wantProto: "http",
			wantH:     "%s",
		},
		{
			name:      "trusted front proxy",
			trust:     []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			sent:      http.Header{"X-Forwarded-For": {"10.9.9.9"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"hub.example.org"}},
			wantFor:   "10.9.9.9, %s",
			wantProto: "https",
			wantH:     "hub.example.org",
		},
		{
			// The site trusts its terminator; this client is not it.
			name:      "a proxy is trusted, the client is not that proxy",
			trust:     []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32"), netip.MustParsePrefix("::1/128")},
			sent:      http.Header{"X-Forwarded-For": {"10.9.9.9"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil.example"}},
			wantFor:   "%s",
			wantProto: "http",
			wantH:     "%s",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := make(chan http.Header, 1)
			hosts := make(chan string, 1)
			up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen <- r.Header.Clone()
				hosts <- r.Host
			}))
			p, fr := front(t, Config{TrustedProxies: tc.trust})
			setRoute(t, p, "alice", up)

			status, _ := get(t, fr.Client(), fr.URL+"/user/alice/api/status", tc.sent)
			if status != http.StatusOK {
				t.Fatalf("status %d", status)
			}
			h, host := <-seen, <-hosts
			frHost := fr.Listener.Addr().String()
			if g, e := host, frHost; g != e {
				t.Errorf("got Host %q; want the browser's %q", g, e)
			}
			for _, c := range []struct{ name, got, want string }{
				{"X-Forwarded-For", h.Get("X-Forwarded-For"), fmt.Sprintf(tc.wantFor, "127.0.0.1")},
				{"X-Forwarded-Proto", h.Get("X-Forwarded-Proto"), tc.wantProto},
				{"X-Forwarded-Host", h.Get("X-Forwarded-Host"), strings.ReplaceAll(tc.wantH, "%s", frHost)},
			} {
				if c.got != c.want {
					t.Errorf("got %s %q; want %q", c.name, c.got, c.want)
				}
			}
		})
	}
}

// The dial function is the only way to the server: the target's host need
// not resolve on the hub, as a compute node's name does not.
func TestDialFuncUsedAndConnectionsReused(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	p, fr := front(t, Config{})
	d := &dialer{to: up.Listener.Addr().String()}
	if err := p.Routes().Set("alice", "", Target{Host: "node-007.cluster.invalid", Port: 8888, Dial: d.Dial}); err != nil {
		t.Fatal(err)
	}

	const n = 25
	for i := range n {
		status, body := get(t, fr.Client(), fmt.Sprintf("%s/user/alice/api/contents?i=%d", fr.URL, i), nil)
		if status != http.StatusOK || body != "ok" {
			t.Fatalf("request %d: status %d, body %q", i, status, body)
		}
	}
	if g := d.n.Load(); g != 1 {
		t.Errorf("%d sequential requests dialled %d times; want 1", n, g)
	}
	if g, e := d.asked(), []string{"node-007.cluster.invalid:8888"}; len(g) != 1 || g[0] != e[0] {
		t.Errorf("dialled %q; want %q", g, e)
	}

	// Setting the same address again, as the hub does on every poll,
	// keeps the pool.
	if err := p.Routes().Set("alice", "", Target{Host: "node-007.cluster.invalid", Port: 8888, Dial: d.Dial}); err != nil {
		t.Fatal(err)
	}
	get(t, fr.Client(), fr.URL+"/user/alice/", nil)
	if g := d.n.Load(); g != 1 {
		t.Errorf("after setting the same target: %d dials; want 1", g)
	}

	// A new address is a new server: its own pool, a new dial.
	if err := p.Routes().Set("alice", "", Target{Host: "node-008.cluster.invalid", Port: 8888, Dial: d.Dial}); err != nil {
		t.Fatal(err)
	}
	get(t, fr.Client(), fr.URL+"/user/alice/", nil)
	if g := d.asked(); len(g) != 2 || g[1] != "node-008.cluster.invalid:8888" {
		t.Errorf("after moving the route: dialled %q; want a second dial to node-008", g)
	}
}

func TestRoutesSet(t *testing.T) {
	for _, tc := range []struct {
		name, user string
		target     Target
		wantErr    string
	}{
		{"ok", "alice", Target{Host: "c001", Port: 8888}, ""},
		{"ipv6", "alice", Target{Host: "::1", Port: 1}, ""},
		{"no user", "", Target{Host: "c001", Port: 8888}, "no user name"},
		{"no host", "alice", Target{Port: 8888}, "no host"},
		{"port zero", "alice", Target{Host: "c001"}, "port 0 is out of range"},
		{"port too big", "alice", Target{Host: "c001", Port: 65536}, "port 65536 is out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rs Routes
			err := rs.Set(tc.user, "", tc.target)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v; want one containing %q", err, tc.wantErr)
				}
				if rs.Len() != 0 {
					t.Errorf("a refused route was added")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, ok := rs.Get(tc.user, "")
			if !ok || got.Host != tc.target.Host || got.Port != tc.target.Port || got.Dial == nil {
				t.Errorf("Get = %+v, %v; want %+v with a default Dial", got, ok, tc.target)
			}
			if _, ok := rs.Get(tc.user, "other"); ok {
				t.Errorf("a named server shares the default server's route")
			}
			if !rs.Delete(tc.user, "") || rs.Delete(tc.user, "") {
				t.Errorf("Delete should report true once, then false")
			}
		})
	}
}

func TestMissingRoute(t *testing.T) {
	type call struct{ user, server, path string }
	calls := make(chan call, 1)
	for _, tc := range []struct {
		name       string
		onMissing  func(w http.ResponseWriter, r *http.Request, user, server string)
		wantStatus int
		wantBody   string
		wantCall   bool
	}{
		{
			name:       "default page",
			wantStatus: http.StatusNotFound,
			wantBody:   "There is no server at /user/bob/",
		},
		{
			name: "hook redirects",
			onMissing: func(w http.ResponseWriter, r *http.Request, user, server string) {
				calls <- call{user, server, r.URL.Path}
				http.Redirect(w, r, "/hub/user/"+user+"/", http.StatusFound)
			},
			wantStatus: http.StatusFound,
			wantCall:   true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, fr := front(t, Config{OnMissing: tc.onMissing})
			c := fr.Client()
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			status, body := get(t, c, fr.URL+"/user/bob/lab", nil)
			if status != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
				t.Errorf("got %d %q; want %d containing %q", status, body, tc.wantStatus, tc.wantBody)
			}
			if tc.wantCall {
				// OnMissing wrote the response, so it has been called.
				select {
				case g := <-calls:
					if e := (call{"bob", "", "/user/bob/lab"}); g != e {
						t.Errorf("OnMissing got %+v; want %+v", g, e)
					}
				default:
					t.Errorf("OnMissing was not called")
				}
			}
			st := p.Stats()
			if st.Missing != 1 || st.Status4xx+st.Status3xx != 1 {
				t.Errorf("stats %+v; want one missing request counted by its status", st)
			}
		})
	}
}

func TestWantsJSON(t *testing.T) {
	for _, tc := range []struct {
		accept string
		want   bool
	}{
		{"", false},
		{"*/*", false},
		{"application/json", true},
		{"application/json, text/plain, */*", true},
		{"application/problem+json", true},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", false},
		{"text/html, application/json", false},
		{"application/json;q=0.9, ;;bad", true},
	} {
		if got := wantsJSON(tc.accept); got != tc.want {
			t.Errorf("wantsJSON(%q) = %v; want %v", tc.accept, got, tc.want)
		}
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) (string, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().(*net.TCPAddr)
	l.Close()
	return "127.0.0.1", a.Port
}

func TestUnreachableServer(t *testing.T) {
	for _, tc := range []struct {
		name, server, accept, want string
		json                       bool
	}{
		{name: "browser", accept: "text/html,*/*;q=0.8", want: "Your server at /user/alice/ is not responding"},
		{name: "no accept", want: "Your server at /user/alice/ is not responding"},
		{name: "api call", accept: "application/json", json: true, want: "Your server at /user/alice/ is not responding"},
		{name: "named server", server: "gpu", want: "Your server at /user/alice/gpu/ is not responding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			type failure struct {
				user, server string
				err          error
			}
			failures := make(chan failure, 4)
			p, _ := front(t, Config{OnError: func(user, server string, err error) {
				failures <- failure{user, server, err}
			}})
			host, port := closedPort(t)
			d := &dialer{}
			if err := p.Routes().Set("alice", tc.server, Target{Host: host, Port: port, Dial: d.Dial}); err != nil {
				t.Fatal(err)
			}
			// Mounted as the web layer would mount a named server.
			fr := upstream(t, p.Handler("alice", tc.server))

			var h http.Header
			if tc.accept != "" {
				h = http.Header{"Accept": {tc.accept}}
			}
			req, _ := http.NewRequest("GET", fr.URL+routeName("alice", tc.server)+"lab", nil)
			for k, v := range h {
				req.Header[k] = v
			}
			res, err := fr.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()

			if res.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("status %d; want 503", res.StatusCode)
			}
			ct := res.Header.Get("Content-Type")
			if tc.json {
				var msg struct {
					Status  int
					Message string
				}
				if ct != "application/json" {
					t.Errorf("Content-Type %q; want application/json", ct)
				}
				if err := json.Unmarshal(body, &msg); err != nil || msg.Status != 503 || msg.Message != tc.want {
					t.Errorf("body %s (%v); want status 503 and message %q", body, err, tc.want)
				}
			} else {
				if !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(body), tc.want) {
					t.Errorf("got %q %q; want an HTML page saying %q", ct, body, tc.want)
				}
			}

			var f failure
			select {
			case f = <-failures:
			case <-time.After(hang):
				t.Fatal("OnError was not called")
			}
			if f.user != "alice" || f.server != tc.server || f.err == nil {
				t.Errorf("OnError(%q, %q, %v); want alice, %q and the dial error", f.user, f.server, f.err, tc.server)
			}
			if d.n.Load() == 0 {
				t.Errorf("the route's dial function was not used")
			}
			if st := p.Stats(); st.Unreachable != 1 || st.Status5xx != 1 {
				t.Errorf("stats %+v; want 1 unreachable, 1 5xx", st)
			}
		})
	}
}

func TestStatsByStatusClass(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/user/alice/":
			http.Redirect(w, r, "/user/alice/lab", http.StatusFound)
		case "/user/alice/lab":
			io.WriteString(w, "lab")
		case "/user/alice/boom":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	p, fr := front(t, Config{})
	setRoute(t, p, "alice", up)
	c := fr.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, path := range []string{"/user/alice/", "/user/alice/lab", "/user/alice/lab", "/user/alice/nope", "/user/alice/boom"} {
		get(t, c, fr.URL+path, nil)
	}
	st := p.Stats()
	want := Stats{Status2xx: 2, Status3xx: 1, Status4xx: 1, Status5xx: 1, Routes: 1, ChannelsOpened: 1}
	if st != want {
		t.Errorf("Stats() = %+v; want %+v", st, want)
	}
}

// TestHubCookiesDropped: the hub's cookies never reach a server, on plain
// requests and WebSocket upgrades alike; the server's own cookies pass as
// the browser wrote them.
func TestHubCookiesDropped(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Join(r.Header.Values("Cookie"), "|"))
	}))
	p, fr := front(t, Config{})
	setRoute(t, p, "alice", up)
	tests := []struct{ in, want string }{
		{"hpcgate-user=abc; jupyterhub-user-alice=\"x=y\"; _xsrf=2|a|b", "jupyterhub-user-alice=\"x=y\"; _xsrf=2|a|b"},
		{"hpcgate-session=s; hpcgate-login=n; hpcgate-flash=f; hpcgate-anything=z", ""},
		{"a=1;b=2", "a=1; b=2"},
		{"hpcgate-user=abc", ""},
	}
	for _, tt := range tests {
		for _, upgrade := range []bool{false, true} {
			req, _ := http.NewRequest("GET", fr.URL+"/user/alice/api/kernels", nil)
			req.Header.Set("Cookie", tt.in)
			if upgrade {
				// The server answers without upgrading; what matters is
				// what the upgrade request carried.
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", "websocket")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != tt.want {
				t.Errorf("Cookie %q (upgrade %v): server saw %q, want %q", tt.in, upgrade, b, tt.want)
			}
		}
	}
}

// TestServerKeptToItsPath: a server's response cannot reach beyond its own
// path in its visitor's browser: no service worker scope over the hub, no
// Cross-Origin-Opener-Policy to share a browsing context group with hub
// pages it opens, no Clear-Site-Data, no hub cookie planted. Its own
// cookies and headers pass. Plain requests (forward) and those ReverseProxy
// carries (a chunked upload) are cleaned alike.
func TestServerKeptToItsPath(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		h := w.Header()
		h.Set("Service-Worker-Allowed", "/")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Clear-Site-Data", `"cookies"`)
		h.Add("Set-Cookie", "hpcgate-session=alices-session; Path=/hub/; HttpOnly")
		h.Add("Set-Cookie", "jupyterhub-user-alice=ok; Path=/user/alice/")
		h.Add("Set-Cookie", "hpcgate-user=alices-gate; Path=/user/")
		h.Add("Set-Cookie", "_xsrf=2|x; Path=/user/alice/")
		h.Set("X-App", "kept")
		io.WriteString(w, "ok")
	}))
	p, fr := front(t, Config{})
	setRoute(t, p, "alice", up)
	for _, method := range []string{"GET", "POST"} {
		var body io.Reader
		if method == "POST" {
			body = io.MultiReader(strings.NewReader("chunked, "), strings.NewReader("unsized"))
		}
		req, _ := http.NewRequest(method, fr.URL+"/user/alice/tree", body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		h := resp.Header
		for _, k := range []string{"Service-Worker-Allowed", "Cross-Origin-Opener-Policy", "Clear-Site-Data"} {
			if v := h.Values(k); len(v) != 0 {
				t.Errorf("%s: the browser got %s: %q", method, k, v)
			}
		}
		want := []string{"jupyterhub-user-alice=ok; Path=/user/alice/", "_xsrf=2|x; Path=/user/alice/"}
		if got := h.Values("Set-Cookie"); !slices.Equal(got, want) {
			t.Errorf("%s: Set-Cookie %q; want %q", method, got, want)
		}
		if h.Get("X-App") != "kept" || resp.StatusCode != 200 {
			t.Errorf("%s: %d, X-App %q; want the server's own answer", method, resp.StatusCode, h.Get("X-App"))
		}
	}
}
