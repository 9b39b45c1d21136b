package ldapauth_test

import (
	"context"
	"errors"
	"testing"

	"hpcgate/gateway/ldapauth"
	"hpcgate/gateway/ldapauth/ldaptest"
)

// TestGroupMembers lists a workshop's group with the service bind: members
// who never logged in are there, each decided as a login would be.
func TestGroupMembers(t *testing.T) {
	d := ldaptest.Load(t)
	a := newAuth(t, d.Config())
	ok1, _ := d.NewUser(t, 5101, "hpc-users")
	ok2, _ := d.NewUser(t, 5102, "hpc-users")
	outsider, _ := d.NewUser(t, 5103) // not in hpc-users, the allowed group
	system, _ := d.NewUser(t, 500, "hpc-users")
	group := d.NewGroup(t, ok1, ok2, outsider, system)

	got, err := a.GroupMembers(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]error{}
	for _, v := range got {
		if v.User == nil {
			t.Fatalf("a verdict without its user: %+v", v)
		}
		by[v.User.Name] = v.Err
	}
	if len(by) != 4 {
		t.Fatalf("members = %v, want the 4 of the group", by)
	}
	if by[ok1] != nil || by[ok2] != nil {
		t.Errorf("allowed members refused: %v", by)
	}
	if !errors.Is(by[outsider], ldapauth.ErrNotAllowed) {
		t.Errorf("%s outside the allowed group: %v, want ErrNotAllowed", outsider, by[outsider])
	}
	if !errors.Is(by[system], ldapauth.ErrSystemAccount) {
		t.Errorf("%s with uid 500: %v, want ErrSystemAccount", system, by[system])
	}
	if _, err := a.GroupMembers(context.Background(), d.Group("no-such-group")); err == nil {
		t.Error("a group that does not exist listed without an error")
	}
}
