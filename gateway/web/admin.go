package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"

	"hpcgate/gateway/config"
)

// The admin page is what a sysadmin keeps open: every user and server,
// with what the scheduler says about each job, filtered server-side, and
// the actions that fix things (stop, cancel, start for someone). It is
// served from the hub's own state; the queue pages read the cluster's
// cached snapshot. Neither runs a scheduler command for a page view.

// requireAdminPage lets admins' browser sessions through. Anyone else who
// is known gets 403 (a token does not make a page session, but a
// non-admin's token must not learn that this page exists as something it
// could log in to); nobody at all is sent to log in.
func (s *Server) requireAdminPage(c *gin.Context) {
	id := who(c)
	switch {
	case id == nil:
		s.redirectToLogin(c)
	case !id.Admin:
		s.errorPage(c, http.StatusForbidden, "This page is for the hub's administrators.")
	case !id.ViaCookie, scripted(c.Request):
		// A script is not a browser showing the page (requirePageUser).
		s.redirectToLogin(c)
	default:
		c.Next()
	}
}

// adminFilter narrows the admin rows: ?cluster=&state=&user=.
type adminFilter struct {
	Cluster string // exact cluster name
	State   string // a server state, "active" or "inactive"
	User    string // part of the user name, any case
}

// adminStates are the state filter's values, in the order the page offers them.
var adminStates = func() []string {
	out := []string{"active", "inactive"}
	for _, st := range gateway.States {
		out = append(out, string(st))
	}
	return out
}()

func parseAdminFilter(q url.Values) (adminFilter, error) {
	f := adminFilter{
		Cluster: strings.TrimSpace(q.Get("cluster")),
		State:   strings.TrimSpace(q.Get("state")),
		User:    strings.ToLower(strings.TrimSpace(q.Get("user"))),
	}
	if f.State != "" && !slices.Contains(adminStates, f.State) {
		return f, gateway.FieldError("state", fmt.Sprintf("%q is not a state (choose %s)", f.State, config.OrList(adminStates)))
	}
	return f, nil
}

// query is the filter as a query string, "" when it filters nothing.
func (f adminFilter) query() string {
	q := url.Values{}
	for k, v := range map[string]string{"cluster": f.Cluster, "state": f.State, "user": f.User} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

func (f adminFilter) keep(user string, info *gateway.ServerInfo) bool {
	if f.User != "" && !strings.Contains(strings.ToLower(user), f.User) {
		return false
	}
	if f.Cluster != "" && (info == nil || info.Cluster != f.Cluster) {
		return false
	}
	switch f.State {
	case "":
		return true
	case "inactive":
		return info == nil || !info.Active()
	case "active":
		return info != nil && info.Active()
	}
	return info != nil && string(info.State) == f.State
}

// adminRow is one user and one of their servers (nil: they have none).
type adminRow struct {
	User   *gateway.User
	Server *gateway.ServerInfo
}

// adminRows joins the store's users with the hub's servers: one row per
// server, and one for each user without any.
func (s *Server) adminRows(ctx context.Context) ([]adminRow, error) {
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	infos, err := s.hub.Servers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	byUser := map[string][]*gateway.ServerInfo{}
	for _, info := range infos {
		byUser[info.User] = append(byUser[info.User], info)
	}
	var rows []adminRow
	add := func(u *gateway.User) {
		if len(byUser[u.Name]) == 0 {
			rows = append(rows, adminRow{User: u})
		}
		for _, info := range byUser[u.Name] {
			rows = append(rows, adminRow{User: u, Server: info})
		}
		delete(byUser, u.Name)
	}
	for _, u := range users {
		add(u)
	}
	// A server whose user row is gone may still hold a job: show it.
	for name := range byUser {
		add(&gateway.User{Name: name})
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.User.Name != b.User.Name {
			return a.User.Name < b.User.Name
		}
		return serverName(a.Server) < serverName(b.Server)
	})
	return rows, nil
}

// apply returns the rows f keeps.
func (f adminFilter) apply(rows []adminRow) []adminRow {
	var out []adminRow
	for _, r := range rows {
		if f.keep(r.User.Name, r.Server) {
			out = append(out, r)
		}
	}
	return out
}

func serverName(info *gateway.ServerInfo) string {
	if info == nil {
		return ""
	}
	return info.Name
}

// serverTimes are the durations the admin page and API show.
type serverTimes struct {
	Queued, Running, WalltimeLeft          time.Duration
	HasQueued, HasRunning, HasWalltimeLeft bool
	// QueuedSince and RunningSince are set (Unix seconds) while the
	// duration still grows, so the page can keep counting.
	QueuedSince, RunningSince int64
}

// timesOf measures a server at now: time queued is from submission to
// the job starting (or now, or its end if it never ran); time running
// from the start to its end or now; walltime left while it runs.
func timesOf(info *gateway.ServerInfo, now time.Time) serverTimes {
	var t serverTimes
	active := info.Active()
	if !info.Submitted.IsZero() {
		end := now
		switch {
		case !info.Started.IsZero():
			end = info.Started
		case !active && !info.Stopped.IsZero():
			end = info.Stopped
		case active:
			t.QueuedSince = info.Submitted.Unix()
		}
		t.Queued, t.HasQueued = max(end.Sub(info.Submitted), 0), true
	}
	if !info.Started.IsZero() {
		end := now
		if !active && !info.Stopped.IsZero() {
			end = info.Stopped
		} else if active {
			t.RunningSince = info.Started.Unix()
		}
		t.Running, t.HasRunning = max(end.Sub(info.Started), 0), true
		if active && info.Resources.Walltime > 0 {
			t.WalltimeLeft, t.HasWalltimeLeft = info.WalltimeLeft(now), true
		}
	}
	return t
}

// adminStateLabel is a server's state in words; a server the scheduler
// ended at its walltime stopped as planned and says so.
func adminStateLabel(info *gateway.ServerInfo) string {
	if endedByWalltime(info.State, info.Reason) {
		return "Ended (walltime)"
	}
	return info.State.Label()
}

// stopLabel names the stop action: a job still in the queue is cancelled.
func stopLabel(state gateway.ServerState) string {
	switch state {
	case gateway.StateSubmitting, gateway.StateQueued:
		return "Cancel job"
	}
	return "Stop"
}

// flash is the message an admin action leaves for the next page view, in
// a short-lived sealed cookie scoped to the admin pages (a message in the
// URL could be forged by whoever sends an admin a link).
type flash struct {
	Error   bool
	Message string
}

const (
	flashCookie   = "hpcgate-flash"
	flashLifetime = time.Minute
)

func (s *Server) adminPath() string { return s.hubPrefix + "admin" }

func (s *Server) setFlash(c *gin.Context, f flash) {
	kind := "ok"
	if f.Error {
		kind = "error"
	}
	sealed, err := s.keys.seal(flashCookie, kind+"\x00"+f.Message)
	if err != nil {
		s.log.WarnContext(c.Request.Context(), "seal flash message", "err", err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: flashCookie, Value: sealed, Path: s.adminPath(), MaxAge: int(flashLifetime / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
}

// takeFlash returns the pending message, if any, and clears it.
func (s *Server) takeFlash(c *gin.Context) *flash {
	raw, err := c.Cookie(flashCookie)
	if err != nil || raw == "" {
		return nil
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: flashCookie, Value: "", Path: s.adminPath(), MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
	v, err := s.keys.open(flashCookie, raw)
	if err != nil {
		return nil
	}
	kind, msg, _ := strings.Cut(v, "\x00")
	return &flash{Error: kind == "error", Message: msg}
}

// backToAdmin redirects to the admin page with the filters the form was
// sent from (only the filters: "back" is the page's query string).
func (s *Server) backToAdmin(c *gin.Context, f flash) {
	s.setFlash(c, f)
	target := s.adminPath()
	if q, err := url.ParseQuery(c.PostForm("back")); err == nil {
		if af, err := parseAdminFilter(q); err == nil && af.query() != "" {
			target += "?" + af.query()
		}
	}
	c.Redirect(http.StatusSeeOther, target)
}

// actionError is the flash for a failed action: the hub's message for
// people, or "internal error" with the chain in the log.
func (s *Server) actionError(c *gin.Context, what string, err error) flash {
	if errorStatus(err) >= 500 && gateway.ErrorCode(err) != gateway.EUNAVAILABLE {
		s.log.ErrorContext(c.Request.Context(), what, "user", who(c).Name, "err", err)
	}
	return flash{Error: true, Message: gateway.ErrorMessage(err)}
}

// adminStop stops a user's server, or cancels its job while it waits in
// the queue: the same lifecycle call, recorded as done by the admin. The
// server is in the path (…/users/<u>/stop for the default server,
// …/users/<u>/servers/<name>/stop for a named one), so the action a
// row's form posts is the row's server and no other.
func (s *Server) adminStop(c *gin.Context) {
	ctx := c.Request.Context()
	admin, user, server := who(c).Name, c.Param("user"), c.Param("name")
	if server != "" {
		if err := gateway.ValidServerName(server); err != nil {
			s.backToAdmin(c, flash{Error: true, Message: gateway.ErrorMessage(err)})
			return
		}
	}
	info, err := s.hub.Server(ctx, user, server)
	if err != nil {
		s.backToAdmin(c, s.actionError(c, "admin stop: look up server", err))
		return
	}
	label := serverLabel(user, server)
	if err := s.hub.Stop(ctx, user, server, admin); err != nil {
		s.backToAdmin(c, s.actionError(c, "admin stop", fmt.Errorf("stop %s: %w", label, err)))
		return
	}
	s.log.InfoContext(ctx, "admin stop", "user", admin, "owner", user, "server", server, "site", info.Cluster, "job", info.JobID, "state", info.State)
	msg := fmt.Sprintf("Stopping %s: job %s is being cancelled.", label, orDash(info.JobID))
	if stopLabel(info.State) == "Cancel job" {
		msg = fmt.Sprintf("Cancelling %s's queued job %s.", user, orDash(info.JobID))
		if server != "" {
			msg = fmt.Sprintf("Cancelling %s's queued job %s (server %s).", user, orDash(info.JobID), server)
		}
	}
	s.backToAdmin(c, flash{Message: msg})
}

// serverLabel names a server in the admin's messages: "bob's server", or
// "bob's server gpu" for a named one (gateway's words for the same).
func serverLabel(user, server string) string {
	if server == "" {
		return user + "'s server"
	}
	return user + "'s server " + server
}

// adminStopURL is the stop action of one server's row.
func (s *Server) adminStopURL(user, server string) string {
	u := s.adminPath() + "/users/" + url.PathEscape(user)
	if server != "" {
		u += "/servers/" + url.PathEscape(server)
	}
	return u + "/stop"
}

// adminStart starts a server for a user with a profile's default options.
// The profile must be open to the user's own directory groups, as it
// would be if they asked themselves (and as the REST API checks): the job
// runs as them. Only users who have logged in are known, with their groups.
func (s *Server) adminStart(c *gin.Context) {
	ctx := c.Request.Context()
	admin := who(c).Name
	// The hub's user names are the login names ldapauth accepts, the same
	// rule as a Unix account's (batch.ValidUser, which web may not import).
	name, ok := gateway.NormalizeUsername(c.PostForm("user"))
	if !ok {
		s.backToAdmin(c, flash{Error: true, Message: fmt.Sprintf("%q is not a valid user name.", c.PostForm("user"))})
		return
	}
	u, err := s.store.GetUser(ctx, name)
	if isNotFound(err) {
		s.backToAdmin(c, flash{Error: true, Message: fmt.Sprintf("%s has never logged in to the hub; a server can only be started for a known user.", name)})
		return
	} else if err != nil {
		s.backToAdmin(c, s.actionError(c, "admin start: look up user", err))
		return
	}
	cluster, profile := splitProfile(c.PostForm("profile"), "")
	plan, err := s.planSpawn(cluster, profile, map[string]string{}, u.Groups)
	if err != nil {
		s.backToAdmin(c, s.actionError(c, "admin start", err))
		return
	}
	info, err := s.hub.Spawn(ctx, gateway.SpawnRequest{
		User: name, Cluster: plan.Cluster.Name, Profile: plan.Profile.Name, Options: map[string]string{}, Groups: u.Groups, By: admin,
	})
	if err != nil {
		s.backToAdmin(c, s.actionError(c, "admin start", fmt.Errorf("start server for %s: %w", name, err)))
		return
	}
	s.log.InfoContext(ctx, "admin start", "user", admin, "owner", name, "site", info.Cluster, "profile", info.Profile)
	s.backToAdmin(c, flash{Message: fmt.Sprintf("Starting a server for %s on %s (%s).", name, plan.Cluster.Title, plan.Profile.Title)})
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
