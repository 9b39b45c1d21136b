package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/jmoiron/sqlx"

	"hpcgate/gateway"
)

// Hub groups live in hub_groups and hub_group_members; directory groups
// are not stored apart: they are read from the users' user_groups, so
// they change exactly when a login or a rights refresh rewrites those.
// Reading them walks the users table (a few thousand rows at a centre),
// which the groups endpoints, used by admins and scripts, can afford.

// attachHubGroups fills HubGroups of users (in the groups' creation
// order) with one query.
func (s *Store) attachHubGroups(ctx context.Context, users []*gateway.User) error {
	if len(users) == 0 {
		return nil
	}
	byName := make(map[string]*gateway.User, len(users))
	names := make([]string, 0, len(users))
	for _, u := range users {
		byName[u.Name] = u
		names = append(names, u.Name)
		u.HubGroups = []string{}
	}
	list, err := s.listArg(names)
	if err != nil {
		return fmt.Errorf("read hub groups of users: %w", err)
	}
	var rows []struct {
		User  string `db:"username"`
		Group string `db:"group_name"`
	}
	if err := s.selectPrepared(ctx, &rows, s.q(`SELECT m.username, m.group_name FROM hub_group_members m
		JOIN hub_groups g ON g.name = m.group_name WHERE `+s.anyOf("m.username")+` ORDER BY g.id`), list); err != nil {
		return fmt.Errorf("read hub groups of users: %w", err)
	}
	for _, r := range rows {
		if u := byName[r.User]; u != nil {
			u.HubGroups = append(u.HubGroups, r.Group)
		}
	}
	return nil
}

// CreateGroup makes a hub group with members.
func (s *Store) CreateGroup(ctx context.Context, name string, members []string) (*gateway.Group, error) {
	if !gateway.ValidGroupName(name) {
		return nil, gateway.Errorf(gateway.EINVALID, "invalid group name %q", name)
	}
	if err := s.checkUsers(ctx, members); err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("create group %s: %w", name, err)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, s.q("INSERT INTO hub_groups (name, created_at) VALUES (?, ?)"), name, ts(s.now()))
	if isUnique(err) {
		return nil, gateway.Errorf(gateway.ECONFLICT, "Group %s already exists", name)
	}
	if err != nil {
		return nil, fmt.Errorf("create group %s: %w", name, err)
	}
	for _, u := range members {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO hub_group_members (group_name, username) VALUES (?, ?)
			ON CONFLICT DO NOTHING`), name, u); err != nil {
			return nil, fmt.Errorf("create group %s: add %s: %w", name, u, err)
		}
	}
	if err := s.commitForget(ctx, tx, forget{users: members}); err != nil {
		return nil, fmt.Errorf("create group %s: %w", name, err)
	}
	return s.hubGroup(ctx, name)
}

// checkUsers answers ENOTFOUND naming the first of names not in users.
func (s *Store) checkUsers(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	query, args, err := s.in("SELECT name FROM users WHERE name IN (?)", names)
	if err != nil {
		return fmt.Errorf("look up users: %w", err)
	}
	var found []string
	if err := s.db.SelectContext(ctx, &found, query, args...); err != nil {
		return fmt.Errorf("look up users: %w", err)
	}
	for _, n := range names {
		if !slices.Contains(found, n) {
			return gateway.Errorf(gateway.ENOTFOUND, "No such user: %s", n)
		}
	}
	return nil
}

// commitForget commits tx, which tells the other replicas f, and forgets
// f here (forget.go's change, for transactions of their own).
func (s *Store) commitForget(ctx context.Context, tx *sqlx.Tx, f forget) error {
	if err := s.tellIn(ctx, tx, f); err != nil {
		return err
	}
	err := tx.Commit()
	s.ids.forget(f)
	return err
}

// hubGroup reads a hub group; ErrNotFound when there is none.
func (s *Store) hubGroup(ctx context.Context, name string) (*gateway.Group, error) {
	var n int
	if err := s.rdb.GetContext(ctx, &n, s.q("SELECT COUNT(*) FROM hub_groups WHERE name = ?"), name); err != nil {
		return nil, fmt.Errorf("get group %s: %w", name, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("group %q: %w", name, gateway.ErrNotFound)
	}
	g := &gateway.Group{Name: name, Users: []string{}}
	// Members in the order the users were created, as JupyterHub lists them.
	if err := s.rdb.SelectContext(ctx, &g.Users, s.q(`SELECT m.username FROM hub_group_members m
		JOIN users u ON u.name = m.username WHERE m.group_name = ? ORDER BY u.created_at, u.name`), name); err != nil {
		return nil, fmt.Errorf("get members of group %s: %w", name, err)
	}
	return g, nil
}

// directoryGroups gathers the directory groups from every user's groups,
// by name, with their members in the order the users were created.
func (s *Store) directoryGroups(ctx context.Context) (map[string]*gateway.Group, error) {
	var rows []struct {
		Name   string `db:"name"`
		Groups string `db:"user_groups"`
	}
	if err := s.rdb.SelectContext(ctx, &rows, "SELECT name, user_groups FROM users ORDER BY created_at, name"); err != nil {
		return nil, fmt.Errorf("read directory groups: %w", err)
	}
	out := map[string]*gateway.Group{}
	for _, r := range rows {
		var dns []string
		if err := json.Unmarshal([]byte(r.Groups), &dns); err != nil {
			return nil, fmt.Errorf("user %s: groups: %w", r.Name, err)
		}
		for _, dn := range dns {
			name := gateway.GroupName(dn)
			g := out[name]
			if g == nil {
				g = &gateway.Group{Name: name, Directory: true, Users: []string{}}
				out[name] = g
			}
			if !slices.Contains(g.DNs, dn) {
				g.DNs = append(g.DNs, dn)
			}
			if !slices.Contains(g.Users, r.Name) {
				g.Users = append(g.Users, r.Name)
			}
		}
	}
	for _, g := range out {
		sort.Strings(g.DNs)
	}
	return out, nil
}

// GetGroup is the hub group of that name, else the directory group.
func (s *Store) GetGroup(ctx context.Context, name string) (*gateway.Group, error) {
	g, err := s.hubGroup(ctx, name)
	if !errors.Is(err, gateway.ErrNotFound) {
		return g, err
	}
	dir, err := s.directoryGroups(ctx)
	if err != nil {
		return nil, err
	}
	if g, ok := dir[name]; ok {
		return g, nil
	}
	return nil, fmt.Errorf("group %q: %w", name, gateway.ErrNotFound)
}

// ListGroups lists the hub groups in creation order, then the directory
// groups by name; a directory group named like a hub group is left out
// (CreateGroup's caller refuses such names, but a directory may grow one).
func (s *Store) ListGroups(ctx context.Context) ([]*gateway.Group, error) {
	var names []string
	if err := s.rdb.SelectContext(ctx, &names, "SELECT name FROM hub_groups ORDER BY id"); err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	var rows []struct {
		Group string `db:"group_name"`
		User  string `db:"username"`
	}
	if err := s.rdb.SelectContext(ctx, &rows, `SELECT m.group_name, m.username FROM hub_group_members m
		JOIN users u ON u.name = m.username ORDER BY u.created_at, u.name`); err != nil {
		return nil, fmt.Errorf("list group members: %w", err)
	}
	out := make([]*gateway.Group, 0, len(names))
	byName := map[string]*gateway.Group{}
	for _, n := range names {
		g := &gateway.Group{Name: n, Users: []string{}}
		byName[n] = g
		out = append(out, g)
	}
	for _, r := range rows {
		if g := byName[r.Group]; g != nil {
			g.Users = append(g.Users, r.User)
		}
	}
	dir, err := s.directoryGroups(ctx)
	if err != nil {
		return nil, err
	}
	var dirNames []string
	for n := range dir {
		if byName[n] == nil {
			dirNames = append(dirNames, n)
		}
	}
	sort.Strings(dirNames)
	for _, n := range dirNames {
		out = append(out, dir[n])
	}
	return out, nil
}

// DeleteGroup removes a hub group (its members stay users).
func (s *Store) DeleteGroup(ctx context.Context, name string) error {
	g, err := s.hubGroup(ctx, name)
	if err != nil {
		return err
	}
	// Its members' rights may change (allowed_groups).
	if _, err := s.execChange(ctx, forget{users: g.Users}, s.q("DELETE FROM hub_groups WHERE name = ?"), name); err != nil {
		return fmt.Errorf("delete group %s: %w", name, err)
	}
	return nil
}

// AddGroupMembers adds users to a hub group.
func (s *Store) AddGroupMembers(ctx context.Context, name string, users []string) (*gateway.Group, error) {
	return s.changeMembers(ctx, name, users, `INSERT INTO hub_group_members (group_name, username) VALUES (?, ?)
		ON CONFLICT DO NOTHING`)
}

// RemoveGroupMembers removes users from a hub group.
func (s *Store) RemoveGroupMembers(ctx context.Context, name string, users []string) (*gateway.Group, error) {
	return s.changeMembers(ctx, name, users, "DELETE FROM hub_group_members WHERE group_name = ? AND username = ?")
}

func (s *Store) changeMembers(ctx context.Context, name string, users []string, stmt string) (*gateway.Group, error) {
	if _, err := s.hubGroup(ctx, name); err != nil {
		return nil, err
	}
	if err := s.checkUsers(ctx, users); err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("change members of group %s: %w", name, err)
	}
	defer tx.Rollback()
	for _, u := range users {
		if _, err := tx.ExecContext(ctx, s.q(stmt), name, u); err != nil {
			return nil, fmt.Errorf("change members of group %s: %s: %w", name, u, err)
		}
	}
	if err := s.commitForget(ctx, tx, forget{users: users}); err != nil {
		return nil, fmt.Errorf("change members of group %s: %w", name, err)
	}
	return s.hubGroup(ctx, name)
}

// CreateUsers records the users of names who do not exist yet, with the
// hub's admin grant when hubAdmin, and returns those it created, in the
// order of names. Existing users are left as they are.
func (s *Store) CreateUsers(ctx context.Context, names []string, hubAdmin bool) ([]*gateway.User, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("create users: %w", err)
	}
	defer tx.Rollback()
	var created []string
	for _, n := range names {
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO users (name, hub_admin, created_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO NOTHING`), n, hubAdmin, ts(s.now()))
		if err != nil {
			return nil, fmt.Errorf("create user %s: %w", n, err)
		}
		if k, _ := res.RowsAffected(); k > 0 {
			created = append(created, n)
		}
	}
	if err := s.commitForget(ctx, tx, forget{users: created}); err != nil {
		return nil, fmt.Errorf("create users: %w", err)
	}
	out := make([]*gateway.User, 0, len(created))
	for _, n := range created {
		u, err := s.GetUser(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// SetHubAdmin sets or clears the hub's admin grant of a user; the
// directory's verdict (Admin) is not touched.
func (s *Store) SetHubAdmin(ctx context.Context, name string, admin bool) (*gateway.User, error) {
	n, err := s.execChange(ctx, forget{users: []string{name}}, s.q("UPDATE users SET hub_admin = ? WHERE name = ?"), admin, name)
	if err != nil {
		return nil, fmt.Errorf("set admin grant of %s: %w", name, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("user %q: %w", name, gateway.ErrNotFound)
	}
	return s.GetUser(ctx, name)
}

var _ gateway.GroupStore = (*Store)(nil)
