package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"hpcgate/batch/batchtest"
)

// TestRecordingApp: alice's server is a recorder (testdata/recorder.py)
// run as her job on the real cluster. Alice's browser, then carol's (an
// admin, admin_access on: plain browsing, her own API token in the header
// and the query, and the OAuth flow) use it. The recorder sees none of
// the hub's cookies and none of carol's credentials; the app's own cookie
// passes. Then everything it recorded, and its own environment's token,
// is replayed against the hub as the user's code could: no hub page, no
// token creation, no other user's server. What remains is JupyterHub's
// contract: the server's own token and the OAuth token its client was
// issued identify their owners on /hub/api/user, with scopes confined to
// this one server.
func TestRecordingApp(t *testing.T) {
	c := batchtest.LoadCluster(t)
	port := freePort(t)
	site := writeSite(t, c, port, "")
	script, logfile := installRecorder(t)
	data, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "  log_level: debug\n", "  log_level: debug\n  admin_access: true\n", 1)
	text = strings.Replace(text, `command: [jupyterhub-singleuser, --ip=127.0.0.1, "--port={port}"]`,
		fmt.Sprintf(`command: [/usr/bin/python3, %q, "{port}", %q]`, script, logfile), 1)
	if err := os.WriteFile(site, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, c, site, port)
	aliceTok, carolTok := newToken(t, h.site, "alice"), newToken(t, h.site, "carol")
	t.Cleanup(func() { api(t, h.base, aliceTok, "DELETE", "/hub/api/users/alice/server", nil) })
	if code, out := api(t, h.base, aliceTok, "POST", "/hub/api/users/alice/server", map[string]string{"profile": "small"}); code != 202 && code != 201 {
		t.Fatalf("spawn alice: %d %s", code, out)
	}
	follow(t, h.base, aliceTok, "alice", 3*time.Minute, func(ev progressEvent) bool { return ev.Ready })

	alice := newBrowser(t, h.base)
	alice.login("alice", "alice-pass")
	for i := 0; i < 2; i++ {
		if code, body, _ := alice.get("/user/alice/tree?visit=" + fmt.Sprint(i)); code != 200 || !strings.Contains(body, "recorded") {
			t.Fatalf("alice on her server: %d %s", code, body)
		}
	}
	carol := newBrowser(t, h.base)
	carol.login("carol", "carol-pass")
	if code, body, _ := carol.get("/user/alice/tree?by=carol"); code != 200 {
		t.Fatalf("carol on alice's server (admin_access): %d %s", code, body)
	}
	req, _ := http.NewRequest("GET", h.base+"/user/alice/api/contents?by=carol-token&token="+carolTok, nil)
	req.Header.Set("Authorization", "token "+carolTok)
	if resp, err := carol.c.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("carol's API token on alice's server: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// The OAuth flow jupyterhub-singleuser would start for carol: the
	// hub asks her first (alice's server is not hers), then the browser
	// brings the code to the server's callback.
	q := url.Values{"client_id": {"jupyterhub-user-alice"}, "redirect_uri": {"/user/alice/oauth_callback"},
		"response_type": {"code"}, "state": {"st"}}
	authorizeURL := "/hub/api/oauth2/authorize?" + q.Encode()
	if code, body, _ := carol.get(authorizeURL); code != http.StatusOK || !strings.Contains(body, "You are opening the server of <strong>alice</strong>") {
		t.Fatalf("carol's authorize for alice's server: %d, want the confirmation page\n%s", code, body)
	}
	code, body, hdr := carol.postForm(authorizeURL, "/hub/api/oauth2/authorize", q)
	if code != http.StatusFound || !strings.HasPrefix(hdr.Get("Location"), "/user/alice/oauth_callback?") {
		t.Fatalf("carol's confirmation for alice's server: %d %s %s", code, hdr.Get("Location"), body)
	}
	if code, _, _ := carol.get(hdr.Get("Location")); code != 200 {
		t.Fatalf("carol's browser at the callback: %d", code)
	}

	// What the app saw.
	rec := readRecording(t, logfile)
	secrets := map[string]string{"carol's API token": carolTok}
	for who, b := range map[string]*browser{"alice": alice, "carol": carol} {
		for _, p := range []string{"/hub/", "/user/"} {
			u, _ := url.Parse(h.base + p)
			for _, k := range b.c.Jar.Cookies(u) {
				if strings.HasPrefix(k.Name, "hpcgate-") {
					secrets[k.Name+" of "+who+"'s browser"] = k.Value
				}
			}
		}
	}
	if len(secrets) < 5 {
		t.Fatalf("expected the session and /user/ cookies of both browsers, have %d secrets", len(secrets))
	}
	for what, v := range secrets {
		if strings.Contains(rec.raw, v) {
			t.Errorf("the app saw %s", what)
		}
	}
	if strings.Contains(rec.raw, "hpcgate-") {
		t.Errorf("the app saw a cookie named hpcgate-*:\n%s", rec.raw)
	}
	if !slices.ContainsFunc(rec.cookies, func(c string) bool { return strings.Contains(c, "recorder-app=kept") }) {
		t.Errorf("the app's own cookie did not come back to it; cookies seen: %q", rec.cookies)
	}
	if len(rec.requests) < 5 {
		t.Fatalf("the app recorded %d requests, want at least 5:\n%s", len(rec.requests), rec.raw)
	}

	// The app replays what it has. The OAuth code first, as the server
	// does, with its own token as the client secret.
	serverTok := rec.env["JUPYTERHUB_API_TOKEN"]
	if serverTok == "" || rec.oauthCode == "" {
		t.Fatalf("the recording has no server token or OAuth code:\n%s", rec.raw)
	}
	form := url.Values{"client_id": {"jupyterhub-user-alice"}, "client_secret": {serverTok}, "grant_type": {"authorization_code"},
		"code": {rec.oauthCode}, "redirect_uri": {"/user/alice/oauth_callback"}}
	resp, err := http.PostForm(h.base+"/hub/api/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var grant struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&grant)
	resp.Body.Close()
	if resp.StatusCode != 200 || grant.AccessToken == "" {
		t.Fatalf("exchange carol's code with the server's token: %d", resp.StatusCode)
	}

	type credential struct {
		what   string
		header http.Header
		// owner and scopes: what /hub/api/user may say ("" = 403).
		owner  string
		scopes []string
	}
	creds := []credential{
		{"the server's own token", http.Header{"Authorization": {"token " + serverTok}}, "alice",
			[]string{"access:servers!server=alice/", "read:users:activity!user=alice", "read:users:groups!user=alice",
				"read:users:name!user=alice", "users:activity!user=alice"}},
		{"carol's OAuth token for alice's server", http.Header{"Authorization": {"Bearer " + grant.AccessToken}}, "carol",
			[]string{"access:servers!server=alice/", "read:users:groups!user=carol", "read:users:name!user=carol"}},
	}
	for _, ck := range rec.cookies {
		creds = append(creds, credential{what: "recorded Cookie " + ck, header: http.Header{"Cookie": {ck}}})
	}
	for _, a := range rec.auths {
		creds = append(creds, credential{what: "recorded Authorization " + a, header: http.Header{"Authorization": {a}}})
	}
	for _, tok := range rec.queryTokens {
		creds = append(creds, credential{what: "recorded ?token=" + tok, header: http.Header{"Authorization": {"token " + tok}}})
	}
	for _, cr := range creds {
		replay := func(method, path string, body io.Reader) (*http.Response, string) {
			req, _ := http.NewRequest(method, h.base+path, body)
			for k, v := range cr.header {
				req.Header[k] = v
			}
			req.Header.Set("Accept", "application/json")
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
			if err != nil {
				t.Fatalf("replay %s %s: %v", method, path, err)
			}
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			return resp, string(out)
		}
		// /hub/token is a page: without a session it sends to log in.
		if r, _ := replay("GET", "/hub/token", nil); r.StatusCode != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), "/hub/login") {
			t.Errorf("replay %s: GET /hub/token: %d %s, want 302 to /hub/login", cr.what, r.StatusCode, r.Header.Get("Location"))
		}
		for _, p := range []string{"/hub/api/users/alice/tokens", "/hub/api/users/carol/tokens"} {
			if r, out := replay("POST", p, strings.NewReader("{}")); r.StatusCode != http.StatusForbidden {
				t.Errorf("replay %s: POST %s: %d %s, want 403", cr.what, p, r.StatusCode, out)
			}
		}
		for _, p := range []string{"/user/bob/api/contents", "/hub/api/users", "/hub/api/users/carol"} {
			if r, out := replay("GET", p, nil); r.StatusCode != http.StatusForbidden {
				t.Errorf("replay %s: GET %s: %d %s, want 403", cr.what, p, r.StatusCode, out)
			}
		}
		r, out := replay("GET", "/hub/api/user", nil)
		if cr.owner == "" {
			if r.StatusCode != http.StatusForbidden {
				t.Errorf("replay %s: GET /hub/api/user: %d %s, want 403", cr.what, r.StatusCode, out)
			}
			continue
		}
		var m struct {
			Name   string   `json:"name"`
			Scopes []string `json:"scopes"`
		}
		json.Unmarshal([]byte(out), &m)
		if r.StatusCode != 200 || m.Name != cr.owner || !slices.Equal(m.Scopes, cr.scopes) {
			t.Errorf("replay %s: GET /hub/api/user: %d %s, want %s with exactly %v", cr.what, r.StatusCode, out, cr.owner, cr.scopes)
		}
	}
}

// installRecorder puts testdata/recorder.py where alice's job can read it
// and names a log file in her home (the recorder makes it, 0600).
func installRecorder(t *testing.T) (script, logfile string) {
	t.Helper()
	src, err := os.ReadFile("testdata/recorder.py")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/tmp", "hpcgate-recorder-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script = filepath.Join(dir, "recorder.py")
	if err := os.WriteFile(script, src, 0o644); err != nil {
		t.Fatal(err)
	}
	logfile = fmt.Sprintf("/home/alice/.hpcgate-recorder-%d.log", time.Now().UnixNano())
	t.Cleanup(func() { os.Remove(logfile) })
	return script, logfile
}

// recording is what the recorder logged, sorted by kind.
type recording struct {
	raw                         string
	env                         map[string]string
	requests                    []string
	cookies, auths, queryTokens []string
	oauthCode                   string
}

func readRecording(t *testing.T, logfile string) *recording {
	t.Helper()
	data, err := os.ReadFile(logfile)
	if err != nil {
		t.Fatalf("read the recorder's log: %v", err)
	}
	rec := &recording{raw: string(data)}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct {
			Env     map[string]string `json:"env"`
			Method  string            `json:"method"`
			Path    string            `json:"path"`
			Headers [][2]string       `json:"headers"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("recorder log line %q: %v", sc.Text(), err)
		}
		if e.Env != nil {
			rec.env = e.Env
			continue
		}
		rec.requests = append(rec.requests, e.Method+" "+e.Path)
		for _, kv := range e.Headers {
			switch strings.ToLower(kv[0]) {
			case "cookie":
				rec.cookies = append(rec.cookies, kv[1])
			case "authorization":
				rec.auths = append(rec.auths, kv[1])
			}
		}
		if u, err := url.Parse(e.Path); err == nil {
			rec.queryTokens = append(rec.queryTokens, u.Query()["token"]...)
			if strings.HasSuffix(u.Path, "/oauth_callback") {
				rec.oauthCode = u.Query().Get("code")
			}
		}
	}
	return rec
}
