package config

import (
	"fmt"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
)

// AppJupyterHub names the app a cluster's `app:` block describes: the
// jupyterhub-singleuser every cluster has, and what a profile offers when
// it lists no apps, so site files written before the catalogue keep working.
const AppJupyterHub = "jupyterhub"

// How an app authenticates its browser (AppSpec.Auth).
const (
	// AuthJupyterHub is jupyterhub-singleuser's own: the hub API and OAuth.
	AuthJupyterHub = "jupyterhub"
	// AuthToken: the hub mints a secret per job, the job script writes it
	// to a file of mode 0600 the app reads, and the proxy presents it on
	// every request it forwards after its own owner check. The job never
	// calls the hub.
	AuthToken = "token"
	// AuthNonePrivate is an app without authentication that listens where
	// only its owner can connect. hpcgate reaches apps through TCP on the
	// compute node, where every user of the node can connect too; this
	// needs a per-user network namespace or a Unix socket the SSH tunnel
	// can reach as the user (direct-streamlocal as that user), which the
	// hub does not offer yet, so the config refuses it.
	AuthNonePrivate = "none-private"
)

// How the proxy treats the /user/<name>/ prefix (AppSpec.Prefix).
const (
	PrefixKeep  = "keep"  // the app serves under the prefix ({base_url})
	PrefixStrip = "strip" // the app serves at /; the proxy removes the prefix
)

// AppSpec is one app of a cluster's catalogue.
type AppSpec struct {
	// Name identifies the app in profiles, forms and the API:
	// ^[a-z][a-z0-9-]*$, unique in the cluster, not "jupyterhub" (that
	// one is the cluster's app: block). Required.
	Name string `yaml:"name"`
	// Title is the app's label on the spawn form. Default: the name.
	Title string `yaml:"title"`
	// Command is the program and its arguments. Placeholders, in any
	// argument: {host} and {port} (where it must listen), {base_url} (the
	// /user/<name>/ prefix, with the hub's base URL), {secret_file} (the
	// file holding the job's secret, mode 0600) and {workdir} (the
	// user's home). Required.
	Command []string `yaml:"command"`
	// Setup are shell lines run before the app (trusted; they may use
	// $HPCGATE_SECRET_FILE and the other HPCGATE_ variables).
	Setup []string `yaml:"setup"`
	// Env is extra environment for the app; values take the placeholders.
	Env map[string]string `yaml:"env"`
	// Auth is token or none-private (refused: see AuthNonePrivate).
	// Default: token.
	Auth string `yaml:"auth"`
	// Present is how the proxy hands the job's secret to the app, for
	// auth: token: exactly one of header, cookie or query.
	Present Present `yaml:"present"`
	// Ready is the request that says the app is up.
	Ready Probe `yaml:"ready"`
	// Prefix is keep (the app serves under {base_url}) or strip (it
	// serves at / and the proxy removes the prefix). Default: keep.
	Prefix string `yaml:"prefix"`
	// Open is where, under the prefix, the hub sends the user: a path and
	// query without a leading /; {base_url} and {base_path} (the prefix
	// without its leading /) are replaced. Default: "", the prefix itself.
	Open string `yaml:"open"`
}

// Present names where the proxy puts the job's secret on each request.
type Present struct {
	// Header is a request header; Value is its value, with {secret}.
	Header string `yaml:"header"`
	Value  string `yaml:"value"`
	// Cookie is a cookie name; its value is the secret.
	Cookie string `yaml:"cookie"`
	// Query is a query parameter; its value is the secret, replacing any
	// the browser sent.
	Query string `yaml:"query"`
}

// Probe is a request through the tunnel and the status that means ready.
type Probe struct {
	// Path under the prefix the app serves at, without a leading /.
	// Default: "" (the app's root).
	Path string `yaml:"path"`
	// Status is the expected answer; 0 accepts anything below 500.
	// Default: 0.
	Status int `yaml:"status"`
}

// setDefaults is applied to each catalogue entry before the file's values.
func (a *AppSpec) setDefaults() {
	*a = AppSpec{Auth: AuthToken, Prefix: PrefixKeep}
}

var (
	rePlaceholders = regexp.MustCompile(`\{[a-z_]*\}`)
	reHeaderName   = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
	reCookieName   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	reProbePath    = regexp.MustCompile(`^[A-Za-z0-9_.~/?=&%-]{0,200}$`)
	commandHolders = []string{"{host}", "{port}", "{base_url}", "{secret_file}", "{workdir}"}
)

// Validate reports every problem in a, with paths relative to it.
func (a *AppSpec) Validate() []Problem {
	var ps problems
	switch {
	case !reName.MatchString(a.Name):
		ps.add("name", "%q must start with a lower-case letter and hold only lower-case letters, digits and dashes", a.Name)
	case a.Name == AppJupyterHub:
		ps.add("name", "%q is the cluster's app: block; give this app another name", a.Name)
	}
	app := App{Command: a.Command, Setup: a.Setup, Env: a.Env}
	ps.addAll("", app.Validate())
	for i, arg := range a.Command {
		checkHolders(&ps, fmt.Sprintf("command[%d]", i), arg, commandHolders)
	}
	for k, v := range a.Env {
		checkHolders(&ps, "env."+k, v, commandHolders)
	}
	switch a.Auth {
	case AuthToken:
		ps.addAll("present", a.Present.validate())
	case AuthNonePrivate:
		ps.add("auth", "none-private needs the app to listen where only its owner can connect (a Unix socket the hub reaches as the user, or a per-user network namespace); hpcgate reaches apps over TCP on the compute node, which every user of the node can connect to, so use auth: token")
	case AuthJupyterHub:
		ps.add("auth", "jupyterhub is the cluster's app: block; a catalogue app uses token")
	default:
		ps.add("auth", "%q is not token or none-private", a.Auth)
	}
	if !reProbePath.MatchString(a.Ready.Path) || strings.HasPrefix(a.Ready.Path, "/") || strings.Contains(a.Ready.Path, "..") {
		ps.add("ready.path", "%q must be a path under the prefix without a leading / (e.g. api/status)", a.Ready.Path)
	}
	if a.Ready.Status != 0 && (a.Ready.Status < 100 || a.Ready.Status > 599) {
		ps.add("ready.status", "%d is not an HTTP status", a.Ready.Status)
	}
	if a.Prefix != PrefixKeep && a.Prefix != PrefixStrip {
		ps.add("prefix", "%q is not keep or strip", a.Prefix)
	}
	if strings.HasPrefix(a.Open, "/") || strings.ContainsAny(a.Open, " \t\r\n\x00\"<>\\") || len(a.Open) > 500 {
		ps.add("open", "%q must be a path and query under the prefix, without a leading /", a.Open)
	}
	checkHolders(&ps, "open", a.Open, []string{"{base_url}", "{base_path}"})
	return ps
}

func (p *Present) validate() []Problem {
	var ps problems
	n := 0
	for _, s := range []string{p.Header, p.Cookie, p.Query} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		ps.add("", "give exactly one of header (with value), cookie or query: where the proxy puts the job's secret")
		return ps
	}
	switch {
	case p.Header != "":
		if !reHeaderName.MatchString(p.Header) {
			ps.add("header", "%q is not a header name", p.Header)
		}
		switch h := textproto.CanonicalMIMEHeaderKey(p.Header); h {
		case "Cookie", "Host", "Connection", "Upgrade", "Content-Length", "Transfer-Encoding":
			ps.add("header", "%s is the proxy's to set", h)
		}
		if !strings.Contains(p.Value, "{secret}") || strings.ContainsAny(p.Value, "\r\n\x00") {
			ps.add("value", "%q must be one line holding {secret} (e.g. \"token {secret}\")", p.Value)
		}
	case p.Cookie != "":
		if !reCookieName.MatchString(p.Cookie) || strings.HasPrefix(p.Cookie, "hpcgate-") {
			ps.add("cookie", "%q is not a cookie name the app may have (hpcgate-* are the hub's)", p.Cookie)
		}
	case p.Query != "":
		if !reCookieName.MatchString(p.Query) {
			ps.add("query", "%q is not a plain parameter name", p.Query)
		}
	}
	if p.Header == "" && p.Value != "" {
		ps.add("value", "is only used with header")
	}
	return ps
}

// checkHolders reports a {word} that is not one of allowed.
func checkHolders(ps *problems, path, s string, allowed []string) {
	for _, h := range rePlaceholders.FindAllString(s, -1) {
		if !slices.Contains(allowed, h) {
			ps.add(path, "%s is not a placeholder here (use %s)", h, strings.Join(allowed, ", "))
		}
	}
}

// AppRef is an app as the hub uses it: the cluster's jupyterhub app or a
// catalogue entry, with what only the first has left at its zero value.
type AppRef struct {
	Name, Title string
	Command     []string
	Setup       []string
	Env         map[string]string
	Auth        string
	Present     Present
	Ready       Probe
	Prefix      string
	Open        string
}

// Apps is the cluster's catalogue: its jupyterhub app first, then apps:.
func (c *Cluster) Apps() []AppRef {
	out := []AppRef{{
		Name: AppJupyterHub, Title: "Jupyter (JupyterHub single-user server)",
		Command: c.App.Command, Setup: c.App.Setup, Env: c.App.Env,
		Auth: AuthJupyterHub, Prefix: PrefixKeep, Ready: Probe{Path: "api"},
	}}
	for _, a := range c.AppsCatalogue {
		title := a.Title
		if title == "" {
			title = a.Name
		}
		out = append(out, AppRef{Name: a.Name, Title: title, Command: a.Command, Setup: a.Setup, Env: a.Env,
			Auth: a.Auth, Present: a.Present, Ready: a.Ready, Prefix: a.Prefix, Open: a.Open})
	}
	return out
}

// AppByName returns the cluster's app called name.
func (c *Cluster) AppByName(name string) (AppRef, bool) {
	for _, a := range c.Apps() {
		if a.Name == name {
			return a, true
		}
	}
	return AppRef{}, false
}

// OfferedApps is what p offers: its apps, or the jupyterhub app.
func (p *Profile) OfferedApps() []string {
	if len(p.Apps) == 0 {
		return []string{AppJupyterHub}
	}
	return p.Apps
}

// validateApps checks the catalogue's names and each profile's list.
func (c *Cluster) validateApps(ps *problems) {
	for i := range c.AppsCatalogue {
		path := fmt.Sprintf("apps[%d]", i)
		ps.addAll(path, c.AppsCatalogue[i].Validate())
		if j := slices.IndexFunc(c.AppsCatalogue, func(a AppSpec) bool { return a.Name == c.AppsCatalogue[i].Name }); j < i {
			ps.add(path+".name", "%q is also the name of apps[%d]", c.AppsCatalogue[i].Name, j)
		}
	}
	names := []string{AppJupyterHub}
	for _, a := range c.AppsCatalogue {
		if !slices.Contains(names, a.Name) {
			names = append(names, a.Name)
		}
	}
	for i, p := range c.Profiles {
		for j, name := range p.Apps {
			if !slices.Contains(names, name) {
				ps.add(fmt.Sprintf("profiles[%d].apps[%d]", i, j), "%q is not an app of this cluster (one of %s)", name, strings.Join(names, ", "))
			}
			if k := slices.Index(p.Apps, name); k < j {
				ps.add(fmt.Sprintf("profiles[%d].apps[%d]", i, j), "%q is listed twice", name)
			}
		}
	}
}
