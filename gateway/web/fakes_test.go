package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"hpcgate/batch"
	"hpcgate/batch/schedulers"
	"hpcgate/gateway"
	"hpcgate/gateway/config"
	"hpcgate/gateway/ldapauth"
)

// fakeHub is a Hub whose methods are the test's functions.
type fakeHub struct {
	SpawnFn        func(ctx context.Context, req gateway.SpawnRequest) (*gateway.ServerInfo, error)
	StopFn         func(ctx context.Context, user, server, by string) error
	RemoveServerFn func(ctx context.Context, user, server, by string) error
	// Routes are the servers the proxy routes to, "user/server"; nil:
	// every server that ServerFn reports ready.
	Routes           map[string]bool
	ServerFn         func(ctx context.Context, user, server string) (*gateway.ServerInfo, error)
	ServersFn        func(ctx context.Context) ([]*gateway.ServerInfo, error)
	SubscribeFn      func(user, server string) (<-chan gateway.Progress, func())
	LogTailFn        func(ctx context.Context, user, server string) (string, error)
	ServeProxyFn     func(w http.ResponseWriter, r *http.Request, user, server string)
	RecordActivityFn func(ctx context.Context, user, server string, t time.Time) error
	QueueFn          func(cluster string) (gateway.QueueSnapshot, error)
	QueueWaitsFn     func(ctx context.Context, since time.Time) ([]gateway.QueueWait, error)
	ClustersFn       func() []*config.Cluster
	// cfg is the test site, whose clusters' schedulers explain reasons.
	cfg *config.Config
}

var _ Hub = (*fakeHub)(nil)

var errUnexpected = errors.New("unexpected call to the fake hub")

func (h *fakeHub) Spawn(ctx context.Context, req gateway.SpawnRequest) (*gateway.ServerInfo, error) {
	if h.SpawnFn == nil {
		return nil, errUnexpected
	}
	return h.SpawnFn(ctx, req)
}

func (h *fakeHub) Stop(ctx context.Context, user, server, by string) error {
	if h.StopFn == nil {
		return errUnexpected
	}
	return h.StopFn(ctx, user, server, by)
}

func (h *fakeHub) RemoveServer(ctx context.Context, user, server, by string) error {
	if h.RemoveServerFn == nil {
		return errUnexpected
	}
	return h.RemoveServerFn(ctx, user, server, by)
}

func (h *fakeHub) HasRoute(user, server string) bool {
	if h.Routes != nil {
		return h.Routes[user+"/"+server]
	}
	info, err := h.Server(context.Background(), user, server)
	return err == nil && info.State == gateway.StateReady
}

func (h *fakeHub) Server(ctx context.Context, user, server string) (*gateway.ServerInfo, error) {
	if h.ServerFn == nil {
		return nil, gateway.Errorf(gateway.ENOTFOUND, "%s has no server", user)
	}
	return h.ServerFn(ctx, user, server)
}

// ServersOf filters what ServersFn returns, as the hub's query would.
// Without ServersFn, the users' servers are their default servers as
// ServerFn tells.
func (h *fakeHub) ServersOf(ctx context.Context, users []string, states ...gateway.ServerState) ([]*gateway.ServerInfo, error) {
	if h.ServersFn == nil {
		var out []*gateway.ServerInfo
		for _, u := range users {
			info, err := h.Server(ctx, u, "")
			if gateway.ErrorCode(err) == gateway.ENOTFOUND {
				continue
			} else if err != nil {
				return nil, err
			}
			if len(states) == 0 || slices.Contains(states, info.State) {
				out = append(out, info)
			}
		}
		return out, nil
	}
	all, err := h.Servers(ctx)
	if err != nil {
		return nil, err
	}
	var out []*gateway.ServerInfo
	for _, info := range all {
		if slices.Contains(users, info.User) && (len(states) == 0 || slices.Contains(states, gateway.ServerState(info.State))) {
			out = append(out, info)
		}
	}
	return out, nil
}

func (h *fakeHub) Servers(ctx context.Context) ([]*gateway.ServerInfo, error) {
	if h.ServersFn == nil {
		return nil, errUnexpected
	}
	return h.ServersFn(ctx)
}

func (h *fakeHub) Subscribe(user, server string) (<-chan gateway.Progress, func()) {
	if h.SubscribeFn == nil {
		ch := make(chan gateway.Progress)
		close(ch)
		return ch, func() {}
	}
	return h.SubscribeFn(user, server)
}

func (h *fakeHub) LogTail(ctx context.Context, user, server string) (string, error) {
	if h.LogTailFn == nil {
		return "", errUnexpected
	}
	return h.LogTailFn(ctx, user, server)
}

func (h *fakeHub) ServeProxy(w http.ResponseWriter, r *http.Request, user, server string) {
	if h.ServeProxyFn == nil {
		http.Error(w, "unexpected proxy call", http.StatusTeapot)
		return
	}
	h.ServeProxyFn(w, r, user, server)
}

func (h *fakeHub) RecordActivity(ctx context.Context, user, server string, t time.Time) error {
	if h.RecordActivityFn == nil {
		return errUnexpected
	}
	return h.RecordActivityFn(ctx, user, server, t)
}

func (h *fakeHub) Queue(cluster string) (gateway.QueueSnapshot, error) {
	if h.QueueFn == nil {
		return gateway.QueueSnapshot{}, errUnexpected
	}
	return h.QueueFn(cluster)
}

func (h *fakeHub) QueueWaits(ctx context.Context, since time.Time) ([]gateway.QueueWait, error) {
	if h.QueueWaitsFn == nil {
		return nil, errUnexpected
	}
	return h.QueueWaitsFn(ctx, since)
}

// Clusters are none unless the test says.
func (h *fakeHub) Clusters() []*config.Cluster {
	if h.ClustersFn == nil {
		return nil
	}
	return h.ClustersFn()
}

// ExplainReason has the words of the cluster's real scheduler adapter, as
// the hub has.
func (h *fakeHub) ExplainReason(cluster, raw string) string {
	if h.cfg == nil {
		return ""
	}
	c, ok := h.cfg.Cluster(cluster)
	if !ok {
		return ""
	}
	for _, k := range schedulers.Kinds {
		if k.Name != c.Scheduler {
			continue
		}
		s, err := k.New(nil, batch.Site{})
		if e, ok := s.(batch.ReasonExplainer); ok && err == nil {
			return e.ExplainReason(raw)
		}
	}
	return ""
}

// fakeAuth is an Authenticator with the test's function.
type fakeAuth struct {
	AuthenticateFn func(ctx context.Context, username, password string) (*gateway.DirectoryUser, error)
}

var _ Authenticator = (*fakeAuth)(nil)

func (a *fakeAuth) Authenticate(ctx context.Context, username, password string) (*gateway.DirectoryUser, error) {
	return a.AuthenticateFn(ctx, username, password)
}

// Directory groups of the test users.
const (
	groupUsers  = "cn=hpc-users,ou=groups,dc=example,dc=org"
	groupAdmins = "cn=hpc-admins,ou=groups,dc=example,dc=org"
	groupGPU    = "cn=gpu-users,ou=groups,dc=example,dc=org"
	// groupTeachers teaches the fake workshop "course" (workshop_test.go).
	groupTeachers = "cn=teachers,ou=groups,dc=example,dc=org"
)

// directory is the fake LDAP: user → password and groups. dave is not in
// an allowed group; "down" makes the directory unreachable.
var directory = map[string]struct {
	password string
	groups   []string
	admin    bool
}{
	"alice": {"alice-pass", []string{groupUsers, groupGPU}, false},
	"bob":   {"bob-pass", []string{groupUsers, groupTeachers}, false},
	"carol": {"carol-pass", []string{groupUsers, groupAdmins}, true},
}

func directoryAuth(_ context.Context, username, password string) (*gateway.DirectoryUser, error) {
	switch {
	case username == "down":
		return nil, fmt.Errorf("dial ldap://127.0.0.1:1: connection refused: %w", ldapauth.ErrUnavailable)
	case username == "dave" && password == "dave-pass":
		return nil, fmt.Errorf("dave: %w", ldapauth.ErrNotAllowed)
	}
	e, ok := directory[username]
	if !ok || e.password != password {
		return nil, ldapauth.ErrInvalidCredentials
	}
	return &gateway.DirectoryUser{Name: username, DN: "uid=" + username + ",ou=people,dc=example,dc=org", Groups: e.groups, Admin: e.admin}, nil
}
