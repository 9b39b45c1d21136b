package ldapauth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"

	"hpcgate/gateway/ldapauth"
	"hpcgate/gateway/ldapauth/ldaptest"
)

func newAuth(t *testing.T, cfg ldapauth.Config) *ldapauth.Authenticator {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := ldapauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// TestRefreshVerdicts: the directory's changes to the test's own users, as
// Refresh sees them with the service bind: removed from the allowed
// group, demoted, disabled, deleted; the untouched ones stay as they were.
func TestRefreshVerdicts(t *testing.T) {
	d := ldaptest.Load(t)
	ctx := context.Background()
	a := newAuth(t, d.Config())
	kept, _ := d.NewUser(t, 5001, "hpc-users")
	removed, _ := d.NewUser(t, 5002, "hpc-users")
	demoted, _ := d.NewUser(t, 5003, "hpc-users", "hpc-admins")
	disabled, _ := d.NewUser(t, 5004, "hpc-users")
	gone := "sec-gone"
	names := []string{kept, removed, demoted, disabled, gone}

	v, err := a.Refresh(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names[:4] {
		if v[n].Err != nil || v[n].User == nil || v[n].User.Name != n {
			t.Errorf("before any change, %s: %+v, want allowed", n, v[n])
		}
	}
	if !v[demoted].User.Admin || v[kept].User.Admin || v[kept].User.UID != 5001 {
		t.Errorf("admin %s: %+v, user %s: %+v", demoted, v[demoted].User, kept, v[kept].User)
	}
	if !errors.Is(v[gone].Err, ldapauth.ErrNotFound) {
		t.Errorf("%s (never existed): %+v, want ErrNotFound", gone, v[gone])
	}

	d.RemoveFromGroup(t, removed, "hpc-users")
	d.RemoveFromGroup(t, demoted, "hpc-admins")
	d.Disable(t, disabled)
	v, err = a.Refresh(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	if v[kept].Err != nil || v[kept].User.Admin {
		t.Errorf("%s (unchanged): %+v", kept, v[kept])
	}
	if !errors.Is(v[removed].Err, ldapauth.ErrNotAllowed) || v[removed].User != nil {
		t.Errorf("%s (removed from hpc-users): %+v, want ErrNotAllowed", removed, v[removed])
	}
	if v[demoted].Err != nil || v[demoted].User.Admin {
		t.Errorf("%s (removed from hpc-admins): %+v, want allowed, not admin", demoted, v[demoted])
	}
	if !errors.Is(v[disabled].Err, ldapauth.ErrNotFound) {
		t.Errorf("%s (shadowExpire=1): %+v, want ErrNotFound", disabled, v[disabled])
	}
	// The same decision as a login: the disabled account cannot log in either.
	if _, err := a.Authenticate(ctx, disabled, "whatever"); !errors.Is(err, ldapauth.ErrInvalidCredentials) {
		t.Errorf("login of disabled %s: %v, want ErrInvalidCredentials", disabled, err)
	}
}

// TestRefreshManyUsers: more users than one search holds are looked up in
// batches, and every one is decided.
func TestRefreshManyUsers(t *testing.T) {
	d := ldaptest.Load(t)
	a := newAuth(t, d.Config())
	real, _ := d.NewUser(t, 5010, "hpc-users")
	names := []string{real}
	for i := range 120 {
		names = append(names, fmt.Sprintf("sec-absent-%03d", i))
	}
	v, err := a.Refresh(context.Background(), names)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != len(names) || v[real].Err != nil {
		t.Fatalf("%d verdicts for %d names; %s: %+v", len(v), len(names), real, v[real])
	}
	for _, n := range names[1:] {
		if !errors.Is(v[n].Err, ldapauth.ErrNotFound) {
			t.Fatalf("%s: %+v, want ErrNotFound", n, v[n])
		}
	}
}

// TestRefreshUnreachable: a directory that cannot be reached gives no
// verdict at all, never "not found".
func TestRefreshUnreachable(t *testing.T) {
	d := ldaptest.Load(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg := d.Config()
	cfg.URL, cfg.ServerName = "ldap://"+addr, "127.0.0.1"
	v, err := newAuth(t, cfg).Refresh(context.Background(), []string{"alice", "bob"})
	if !errors.Is(err, ldapauth.ErrUnavailable) || v != nil {
		t.Fatalf("Refresh with the directory down = %v, %v; want ErrUnavailable and no verdicts", v, err)
	}
}

// TestLoginRefusesSystemAccounts: right passwords, refused accounts.
func TestLoginRefusesSystemAccounts(t *testing.T) {
	d := ldaptest.Load(t)
	ctx := context.Background()
	low, lowPW := d.NewUser(t, 999, "hpc-users")
	none, nonePW := d.NewUser(t, -1, "hpc-users")
	svc, svcPW := d.NewUser(t, 5020, "hpc-users")
	ok, okPW := d.NewUser(t, 1000, "hpc-users")

	cfg := d.Config()
	cfg.ServiceUsers = []string{svc}
	a := newAuth(t, cfg)
	for _, tc := range []struct {
		name, pw string
		want     error
	}{
		{low, lowPW, ldapauth.ErrSystemAccount},
		{none, nonePW, ldapauth.ErrNotAllowed},
		{svc, svcPW, ldapauth.ErrSystemAccount},
	} {
		if u, err := a.Authenticate(ctx, tc.name, tc.pw); !errors.Is(err, tc.want) || u != nil {
			t.Errorf("login %s = %+v, %v; want %v", tc.name, u, err, tc.want)
		}
	}
	u, err := a.Authenticate(ctx, ok, okPW)
	if err != nil || u.UID != 1000 {
		t.Errorf("login %s (uid 1000, the minimum) = %+v, %v", ok, u, err)
	}
	// Refresh decides the same way.
	v, err := a.Refresh(ctx, []string{low, svc, ok})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(v[low].Err, ldapauth.ErrSystemAccount) || !errors.Is(v[svc].Err, ldapauth.ErrSystemAccount) || v[ok].Err != nil {
		t.Errorf("Refresh: %s %v, %s %v, %s %v", low, v[low].Err, svc, v[svc].Err, ok, v[ok].Err)
	}

	// min_uid: 0 lets both in.
	cfg.MinUID, cfg.ServiceUsers = 0, nil
	a = newAuth(t, cfg)
	for _, c := range [][2]string{{low, lowPW}, {none, nonePW}} {
		if _, err := a.Authenticate(ctx, c[0], c[1]); err != nil {
			t.Errorf("login %s with min_uid 0: %v", c[0], err)
		}
	}
}

// TestServiceAccountRefusedWithoutTraffic: the bind DN's own name
// (cn=hpcgate → hpcgate) is refused before the hub says a word to the
// directory, so its password is never tried.
func TestServiceAccountRefusedWithoutTraffic(t *testing.T) {
	d := ldaptest.Load(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	cfg := d.Config()
	cfg.URL = "ldap://" + ln.Addr().String()
	cfg.ServerName = "127.0.0.1"
	a := newAuth(t, cfg)
	if d.BindDN != "cn=hpcgate,ou=services,"+d.Base {
		t.Fatalf("the cluster's bind DN is %s; this test expects cn=hpcgate", d.BindDN)
	}
	for _, name := range []string{"hpcgate", "HPCGate"} {
		_, err := a.Authenticate(context.Background(), name, "any password")
		if !errors.Is(err, ldapauth.ErrSystemAccount) {
			t.Errorf("login %s: %v, want ErrSystemAccount", name, err)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections to the directory for a service account's login, want 0", n)
	}
	// Someone else still reaches the directory (here: nothing answers).
	if _, err := a.Authenticate(context.Background(), "alice", "x"); !errors.Is(err, ldapauth.ErrUnavailable) {
		t.Errorf("login alice against a closed directory: %v", err)
	}
}
