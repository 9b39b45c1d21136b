package proxy

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// App is how the proxy authenticates a route's requests to an app that
// trusts a secret instead of the hub's OAuth (a Jupyter Server token,
// code-server's session cookie, websockify's token). The web layer has
// checked who the browser is before ServeRoute; the proxy then presents the
// secret on every request it forwards, and keeps the secret from ever
// reaching the browser: a Set-Cookie carrying it is dropped, a Location
// carrying it loses it.
type App struct {
	// Secret is the job's secret.
	Secret string
	// Exactly one of these says where it goes: the request header Header
	// with the value HeaderValue (which holds the secret), the cookie
	// Cookie (replacing any of that name the browser sent), or the query
	// parameter Query (replacing any the browser sent).
	Header, HeaderValue string
	Cookie              string
	Query               string
	// Prefix is the route's URL prefix (/user/alice/). With Strip the app
	// serves at / and gets paths without it.
	Prefix string
	Strip  bool
	// Open is where a GET of the bare prefix is sent (a path and query
	// under the prefix, already expanded); "" forwards it.
	Open string
}

// serveOpen redirects a GET or HEAD of the bare prefix to a.Open and
// reports whether it did.
func (a *App) serveOpen(w http.ResponseWriter, r *http.Request) bool {
	if a.Open == "" || (r.Method != http.MethodGet && r.Method != http.MethodHead) || r.URL.RawQuery != "" {
		return false
	}
	if p := r.URL.Path; p != a.Prefix && p+"/" != a.Prefix {
		return false
	}
	http.Redirect(w, r, a.Prefix+a.Open, http.StatusFound)
	return true
}

// rewrite presents the secret on out and strips the prefix.
func (a *App) rewrite(out *http.Request) {
	if a.Strip {
		rest := "/" + strings.TrimPrefix(out.URL.Path, a.Prefix)
		if out.URL.Path+"/" == a.Prefix {
			rest = "/"
		}
		out.URL.Path = rest
		out.URL.RawPath = ""
		if raw := out.URL.EscapedPath(); raw != rest {
			out.URL.RawPath = raw
		}
		// Apps that build absolute links can learn where they are.
		out.Header.Set("X-Forwarded-Prefix", strings.TrimSuffix(a.Prefix, "/"))
	}
	switch {
	case a.Header != "":
		out.Header.Set(a.Header, a.HeaderValue)
	case a.Cookie != "":
		dropCookies(out.Header, func(name string) bool { return name == a.Cookie })
		c := (&http.Cookie{Name: a.Cookie, Value: a.Secret}).String()
		if prev := out.Header.Get("Cookie"); prev != "" {
			c = prev + "; " + c
		}
		out.Header.Set("Cookie", c)
	case a.Query != "":
		q := removeParam(out.URL.RawQuery, a.Query)
		if q != "" {
			q += "&"
		}
		out.URL.RawQuery = q + url.QueryEscape(a.Query) + "=" + url.QueryEscape(a.Secret)
	}
}

// removeParam drops every name=… from a raw query, leaving the rest as
// the browser wrote it.
func removeParam(raw, name string) string {
	if raw == "" {
		return ""
	}
	var kept []string
	for _, kv := range strings.Split(raw, "&") {
		k, _, _ := strings.Cut(kv, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == name || k == name {
			continue
		}
		kept = append(kept, kv)
	}
	return strings.Join(kept, "&")
}

// response keeps the secret out of what goes back to the browser: the
// app's own Set-Cookie of the presented cookie (the browser would keep and
// show it) and any other header naming the secret are dropped, and a
// redirect carrying it in its query loses that parameter.
func (a *App) response(resp *http.Response) {
	if a.Secret == "" {
		return // nothing to hide, and "" is in every string
	}
	h := resp.Header
	if cs := h.Values("Set-Cookie"); len(cs) > 0 {
		var kept []string
		for _, c := range cs {
			name, _, _ := strings.Cut(c, "=")
			if strings.TrimSpace(name) == a.Cookie && a.Cookie != "" || strings.Contains(c, a.Secret) {
				continue
			}
			kept = append(kept, c)
		}
		h.Del("Set-Cookie")
		for _, c := range kept {
			h.Add("Set-Cookie", c)
		}
	}
	if loc := h.Get("Location"); loc != "" && strings.Contains(loc, a.Secret) {
		if u, err := url.Parse(loc); err == nil && a.Query != "" {
			u.RawQuery = removeParam(u.RawQuery, a.Query)
			loc = u.String()
		}
		if strings.Contains(loc, a.Secret) {
			loc = a.Prefix // where else it pointed, it must not tell the secret
		}
		h.Set("Location", loc)
	}
	for k, vs := range h {
		if k == "Location" {
			continue
		}
		for _, v := range vs {
			if strings.Contains(v, a.Secret) {
				h.Del(k)
				break
			}
		}
	}
	// A redirect from an app that strips the prefix points under /; put
	// it back under the prefix, as the browser knows the app.
	if a.Strip {
		if loc := h.Get("Location"); strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") && !strings.HasPrefix(loc, a.Prefix) {
			h.Set("Location", a.Prefix+strings.TrimPrefix(loc, "/"))
		}
	}
}

// modifyResponse is ReverseProxy's ModifyResponse: what no server may
// tell the browser is removed, and the route's App, if any, cleans the
// response.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	p.keepHubScope(resp.Header)
	if pr := fromContext(resp.Request.Context()); pr != nil {
		if a := pr.target.App; a != nil {
			a.response(resp)
		}
	}
	return nil
}

// keepHubScope removes from a server's response what would let it act
// beyond its own path in the browser of whoever opens it (an admin, an
// instructor). Servers are served from the hub's own origin, and the
// server runs its user's code:
//   - Service-Worker-Allowed would let a worker registered from
//     /user/alice/ take scope / and read the hub's pages, with their
//     XSRF token, every time its visitor comes back;
//   - Cross-Origin-Opener-Policy is dropped so no server can match the
//     hub pages' "same-origin": a hub page it opens with window.open then
//     gets a browsing context group of its own, out of the opener's reach;
//   - Clear-Site-Data would log its visitor out of the hub;
//   - a Set-Cookie of the hub's own cookies would plant a session of the
//     server's owner in the visitor's browser (the hub's cookies are
//     HttpOnly, which only protects them from scripts, not from a
//     same-origin response).
//
// A server needs none of these for its own pages.
func (p *Proxy) keepHubScope(h http.Header) {
	for _, k := range []string{"Service-Worker-Allowed", "Cross-Origin-Opener-Policy", "Clear-Site-Data"} {
		delete(h, k)
	}
	isHub := func(c string) bool {
		name, _, _ := strings.Cut(c, "=")
		return p.cfg.HubCookie(strings.TrimSpace(name))
	}
	// The response is this request's own: its slice may be edited.
	if cs := h["Set-Cookie"]; slices.ContainsFunc(cs, isHub) {
		if kept := slices.DeleteFunc(cs, isHub); len(kept) > 0 {
			h["Set-Cookie"] = kept
		} else {
			delete(h, "Set-Cookie")
		}
	}
}
