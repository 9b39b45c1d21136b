package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"hpcgate/gateway"
)

type userRow struct {
	Name         string `db:"name"`
	Admin        bool   `db:"admin"`
	HubAdmin     bool   `db:"hub_admin"`
	Groups       string `db:"user_groups"`
	Created      tstamp `db:"created_at"`
	LastLogin    tstamp `db:"last_login"`
	LastActivity tstamp `db:"last_activity"`
}

const userCols = "name, admin, hub_admin, user_groups, created_at, last_login, last_activity"

// dest is r's fields in the order of userCols, for rows.Scan: a page of
// users is scanned without sqlx's reflection.
func (r *userRow) dest() []any {
	return []any{&r.Name, &r.Admin, &r.HubAdmin, &r.Groups, &r.Created, &r.LastLogin, &r.LastActivity}
}

func (r *userRow) user() (*gateway.User, error) {
	u := &gateway.User{Name: r.Name, Admin: r.Admin, HubAdmin: r.HubAdmin, Created: r.Created.Time(),
		LastLogin: r.LastLogin.Time(), LastActivity: r.LastActivity.Time()}
	if r.Groups == "[]" { // most users in a list: no directory groups
		u.Groups = []string{}
		return u, nil
	}
	if err := json.Unmarshal([]byte(r.Groups), &u.Groups); err != nil {
		return nil, fmt.Errorf("user %s: groups: %w", r.Name, err)
	}
	return u, nil
}

func marshal(v any, empty string) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	if string(b) == "null" {
		return empty, nil
	}
	return string(b), nil
}

// UpsertUser records a login: it creates the user or updates their admin
// flag and groups, and sets the last login when u.LastLogin is not zero.
func (s *Store) UpsertUser(ctx context.Context, u gateway.User) (*gateway.User, error) {
	if u.Name == "" {
		return nil, errors.New("upsert user: empty name")
	}
	groups, err := marshal(u.Groups, "[]")
	if err != nil {
		return nil, fmt.Errorf("upsert user %s: %w", u.Name, err)
	}
	var r userRow
	// Admin and groups may have changed (a login, the directory's rights
	// refresh): the next request sees them, on every replica.
	err = s.change(ctx, forget{users: []string{u.Name}}, func(tx *sqlx.Tx) error {
		return tx.GetContext(ctx, &r, s.q(`
		INSERT INTO users (name, admin, user_groups, created_at, last_login)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET
			admin = excluded.admin,
			user_groups = excluded.user_groups,
			last_login = COALESCE(excluded.last_login, users.last_login)
		RETURNING `+userCols),
			u.Name, u.Admin, groups, ts(s.now()), ts(u.LastLogin))
	})
	if err != nil {
		return nil, fmt.Errorf("upsert user %s: %w", u.Name, err)
	}
	out, err := r.user()
	if err != nil {
		return nil, err
	}
	if err := s.attachHubGroups(ctx, []*gateway.User{out}); err != nil {
		return nil, err
	}
	return out, nil
}

// EnsureUser creates a user who has never logged in (for `hpcgate token`)
// and leaves an existing one as it is.
func (s *Store) EnsureUser(ctx context.Context, name string) (*gateway.User, error) {
	if name == "" {
		return nil, errors.New("ensure user: empty name")
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO users (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`),
		name, ts(s.now()))
	if err != nil {
		return nil, fmt.Errorf("ensure user %s: %w", name, err)
	}
	return s.GetUser(ctx, name)
}

// GetUser returns a user or gateway.ErrNotFound.
// Every request's identity needs its user, so users are answered from
// memory (identity.go) once read; every write to a user forgets it.
func (s *Store) GetUser(ctx context.Context, name string) (*gateway.User, error) {
	if u, ok := s.ids.user(name); ok {
		return u, nil
	}
	gen := s.ids.generation()
	var r userRow
	err := s.rdb.GetContext(ctx, &r, s.q("SELECT "+userCols+" FROM users WHERE name = ?"), name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("user %q: %w", name, gateway.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get user %s: %w", name, err)
	}
	u, err := r.user()
	if err != nil {
		return nil, err
	}
	if err := s.attachHubGroups(ctx, []*gateway.User{u}); err != nil {
		return nil, err
	}
	s.ids.putUser(gen, u)
	return u, nil
}

// ListUsers returns every user, by name.
func (s *Store) ListUsers(ctx context.Context) ([]*gateway.User, error) {
	var rows []userRow
	if err := s.rdb.SelectContext(ctx, &rows, "SELECT "+userCols+" FROM users ORDER BY name"); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	users := make([]*gateway.User, 0, len(rows))
	for i := range rows {
		u, err := rows[i].user()
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	if err := s.attachHubGroups(ctx, users); err != nil {
		return nil, err
	}
	return users, nil
}

// ListUsersPage reads one page of users in the order they were created
// and counts the users matching q, in one statement, so the cost follows
// the page, not the table: the page's names along the users_created index
// (LIMIT/OFFSET), the count walking an index without decoding rows (a
// window count, COUNT(*) OVER (), would build every matching row first).
// The users themselves come from usersNamed.
func (s *Store) ListUsersPage(ctx context.Context, q gateway.UserQuery) ([]*gateway.User, int, error) {
	var where []string
	var args []any
	if q.NameContains != "" {
		// Names are lower case; LIKE is then the same on both databases.
		esc := strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(q.NameContains))
		where, args = append(where, `name LIKE ? ESCAPE '\'`), append(args, "%"+esc+"%")
	}
	active := "EXISTS (SELECT 1 FROM servers WHERE servers.username = users.name AND servers.state IN (?))"
	switch q.Activity {
	case "":
	case "active":
		where, args = append(where, active), append(args, gateway.ActiveStates)
	case "ready":
		where, args = append(where, active), append(args, []gateway.ServerState{gateway.StateReady})
	case "inactive":
		where, args = append(where, "NOT "+active), append(args, gateway.ActiveStates)
	default:
		return nil, 0, fmt.Errorf("list users: unknown activity filter %q", q.Activity)
	}
	if q.Limit <= 0 || q.Offset < 0 {
		return nil, 0, fmt.Errorf("list users: offset %d, limit %d", q.Offset, q.Limit)
	}
	filter := ""
	if len(where) > 0 {
		filter = " WHERE " + strings.Join(where, " AND ")
	}
	// The page's names come back as one JSON array beside the count, in
	// one row: a row per name cost more in the driver than reading it.
	gen := s.ids.generation()
	query, qargs, err := s.in(`SELECT (SELECT COUNT(*) FROM users`+filter+`),
		(SELECT `+s.pageNames()+` FROM
			(SELECT name, created_at FROM users`+filter+` ORDER BY created_at, name LIMIT ? OFFSET ?) page)`,
		append(append(append([]any{}, args...), args...), q.Limit, q.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	var total int
	var list sql.NullString
	if err := s.queryRowPrepared(ctx, query, qargs...).Scan(&total, &list); err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	names, err := decodeNames(list.String) // NULL: PostgreSQL's aggregate of no rows
	if err != nil {
		return nil, 0, fmt.Errorf("list users: the page's names: %w", err)
	}
	users, err := s.usersNamed(ctx, gen, names)
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	if s.dialect == SQLite {
		// The order pageNames does not promise: SQLite's, created_at as
		// fixed-width UTC text and names as bytes (BINARY), which Go's
		// comparisons are. Already in order, in practice.
		slices.SortStableFunc(users, func(a, b *gateway.User) int {
			if c := a.Created.Compare(b.Created); c != 0 {
				return c
			}
			return strings.Compare(a.Name, b.Name)
		})
	}
	return users, total, nil
}

// pageNames aggregates the names of a page (a subquery "page" ordered
// by created_at, name) into a JSON array. PostgreSQL is told the order;
// SQLite's aggregate takes its subquery's rows in order, but an ORDER BY
// inside it builds a sorter, which tripled the query's cost, so the
// caller sorts what SQLite returns.
func (s *Store) pageNames() string {
	if s.dialect == Postgres {
		return "json_agg(name ORDER BY created_at, name)"
	}
	return "json_group_array(name)"
}

// decodeNames reads a JSON array of strings ("" reads as none). Names
// without escapes, which user names are, are cut out of the text;
// anything else goes to encoding/json, which was a tenth of a user
// list's CPU when it read every page.
func decodeNames(list string) ([]string, error) {
	if list == "" {
		return nil, nil
	}
	i := 0
	ws := func() {
		for i < len(list) && (list[i] == ' ' || list[i] == '\n' || list[i] == '\t' || list[i] == '\r') {
			i++
		}
	}
	// want consumes c (after white space) or reports that it is not next.
	want := func(c byte) bool {
		ws()
		if i < len(list) && list[i] == c {
			i++
			return true
		}
		return false
	}
	if !want('[') {
		return slowNames(list)
	}
	names := []string{}
	if want(']') {
		ws()
		if i != len(list) {
			return slowNames(list)
		}
		return names, nil
	}
	for {
		if !want('"') {
			return slowNames(list)
		}
		end := strings.IndexByte(list[i:], '"')
		if end < 0 {
			return slowNames(list)
		}
		name := list[i : i+end]
		for j := 0; j < len(name); j++ {
			if c := name[j]; c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
				return slowNames(list) // escapes, and what encoding/json would check
			}
		}
		names = append(names, name)
		i += end + 1
		if want(']') {
			ws()
			if i != len(list) {
				return slowNames(list)
			}
			return names, nil
		}
		if !want(',') {
			return slowNames(list)
		}
	}
}

func slowNames(list string) ([]string, error) {
	var names []string
	err := json.Unmarshal([]byte(list), &names)
	return names, err
}

// usersNamed returns the users named, in that order, leaving out any
// deleted since the names were read. The names of a page come from the
// users_created index alone; the users from the cache GetUser answers
// from, which every write to a user or their hub groups forgets
// (identity.go), so it is as fresh as GetUser; the users it does not hold
// are read in one query, with their hub groups, and put in it. Reading
// whole rows for every page was most of a user list's cost.
func (s *Store) usersNamed(ctx context.Context, gen uint64, names []string) ([]*gateway.User, error) {
	users := make([]*gateway.User, len(names))
	var missing []string
	for i, name := range names {
		if u, ok := s.ids.user(name); ok {
			users[i] = u
		} else {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		list, err := s.listArg(missing)
		if err != nil {
			return nil, err
		}
		read, err := s.scanUsers(ctx, s.q("SELECT "+userCols+" FROM users WHERE "+s.anyOf("name")), list)
		if err != nil {
			return nil, err
		}
		if err := s.attachHubGroups(ctx, read); err != nil {
			return nil, err
		}
		byName := make(map[string]*gateway.User, len(read))
		for _, u := range read {
			byName[u.Name] = u
			s.ids.putUser(gen, u)
		}
		for i, name := range names {
			if users[i] == nil {
				users[i] = byName[name]
			}
		}
	}
	return slices.DeleteFunc(users, func(u *gateway.User) bool { return u == nil }), nil
}

// scanUsers runs query (prepared) and reads its users.
func (s *Store) scanUsers(ctx context.Context, query string, args ...any) ([]*gateway.User, error) {
	rows, err := s.queryPrepared(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	users := []*gateway.User{}
	var r userRow
	dest := r.dest()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		u, err := r.user()
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	return users, rows.Err()
}

// TouchUserActivity moves the user's last activity forward to t; an older
// t (reports arrive out of order) changes nothing.
func (s *Store) TouchUserActivity(ctx context.Context, name string, t time.Time) error {
	// Its last_activity moves.
	n, err := s.execChange(ctx, forget{users: []string{name}}, s.q(`UPDATE users SET last_activity = ?
		WHERE name = ? AND (last_activity IS NULL OR last_activity < ?)`), ts(t), name, ts(t))
	if err != nil {
		return fmt.Errorf("record activity of user %s: %w", name, err)
	}
	if n == 0 {
		if _, err := s.GetUser(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// DeleteUser removes a user with their servers, tokens, sessions and codes
// (their events stay). The caller stops their jobs first.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	// Their tokens and sessions go with them.
	n, err := s.execChange(ctx, forget{creds: true, users: []string{name}}, s.q("DELETE FROM users WHERE name = ?"), name)
	if err != nil {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("user %q: %w", name, gateway.ErrNotFound)
	}
	return nil
}
