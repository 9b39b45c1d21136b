package gateway

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"
)

// User is a person who has logged in (or was given a token by an admin).
type User struct {
	Name string
	// Admin is the directory's verdict (an admin group, admin_users), set
	// at each login and rights refresh; HubAdmin is an admin's grant
	// through the API, which neither changes. IsAdmin is either.
	Admin    bool
	HubAdmin bool
	Groups   []string // directory groups (DNs) at the last login or refresh
	// HubGroups are the names of the hub groups the user is in.
	HubGroups    []string
	Created      time.Time
	LastLogin    time.Time // zero: never logged in
	LastActivity time.Time // the newest activity of any of their servers
}

// UserStore keeps users and what lets them act through the hub.
type UserStore interface {
	// UpsertUser creates the user or updates their admin flag and
	// groups, and sets the last login when u.LastLogin is not zero.
	UpsertUser(ctx context.Context, u User) (*User, error)
	// EnsureUser creates a user who never logged in; an existing one is kept.
	EnsureUser(ctx context.Context, name string) (*User, error)
	GetUser(ctx context.Context, name string) (*User, error)
	ListUsers(ctx context.Context) ([]*User, error)
	// ListUsersPage reads one page of users, by name, and how many match
	// q in all: a list costs what it returns, not the whole table.
	ListUsersPage(ctx context.Context, q UserQuery) (users []*User, total int, err error)
	TouchUserActivity(ctx context.Context, name string, t time.Time) error
	// UsersWithAccess names the users who logged in and hold a live
	// session or token at now.
	UsersWithAccess(ctx context.Context, now time.Time) ([]string, error)
	// RevokeUserAccess ends every token, OAuth code and session of user.
	RevokeUserAccess(ctx context.Context, user string) (sessions, tokens int64, err error)
}

// The errors a directory's login and refresh return, told apart with
// errors.Is; the web layer shows their own messages.
var (
	// ErrInvalidCredentials is returned, unwrapped and identical, for a
	// wrong password, an unknown user, an invalid user name and an empty
	// password, so that nobody can find out which names exist.
	ErrInvalidCredentials = errors.New("invalid username or password")
	// ErrNotAllowed: the password was right but the user is in none of
	// the allowed groups.
	ErrNotAllowed = errors.New("your account is not allowed to use this hub")
	// ErrDirectoryUnavailable: the directory cannot be reached or used.
	ErrDirectoryUnavailable = errors.New("the directory is unreachable, try again later")
	// ErrSystemAccount: the hub's own service accounts, and accounts
	// whose uid is below the site's minimum.
	ErrSystemAccount = errors.New("system and service accounts may not use this hub")
	// ErrNotInDirectory is a refresh verdict: the user filter no longer
	// finds the user.
	ErrNotInDirectory = errors.New("not found in the directory by user_filter")
)

// DirectoryUser is someone the directory accepted, as it describes them.
type DirectoryUser struct {
	Name        string   // the login name, normalised (NormalizeUsername)
	DN          string   // the user's entry
	Groups      []string // DNs of the user's groups, as the directory wrote them
	Admin       bool
	DisplayName string // may be empty
	Email       string // may be empty
	UID         int    // -1 when absent or not a number
}

// Verdict is what the directory says of a user now.
type Verdict struct {
	// User is the entry as found; nil when not found or refused.
	User *DirectoryUser
	// Err is nil when the user may use the hub, else why not: wraps
	// ErrNotInDirectory, ErrNotAllowed or ErrSystemAccount.
	Err error
}

// Directory is where the rights refresh looks users up again, with the
// same decision as a login. Names it cannot decide (several entries) are
// left out of the map; an unreachable directory is an error, never an
// empty answer.
type Directory interface {
	Refresh(ctx context.Context, names []string) (map[string]Verdict, error)
}

// usernameRE is the hub's one rule for a user name: the POSIX portable
// user names (a letter or _, then letters, digits, _, . and -), at most
// 32 characters, lower case.
var usernameRE = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)

// NormalizeUsername trims s and lower-cases its ASCII letters, and
// reports whether the result is a valid user name. Every name the hub
// keys on (logins, the directory's answers, an admin's form) goes through
// it first.
func NormalizeUsername(s string) (string, bool) {
	// Lower-case only ASCII: a Unicode letter whose lower case is ASCII
	// (the Kelvin sign K becomes k) must not turn into someone else's name.
	name := strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, strings.TrimSpace(s))
	if !usernameRE.MatchString(name) {
		return "", false
	}
	return name, true
}

// UserQuery selects a page of the user list, in the order the users were
// created (then by name), as JupyterHub lists them.
type UserQuery struct {
	// NameContains keeps the users whose name contains it, ignoring case.
	NameContains string
	// Activity keeps every user (""), those with an active server
	// ("active"), with a ready one ("ready") or with no active server
	// ("inactive"): JupyterHub's state filter.
	Activity string
	// Offset skips that many users; Limit bounds the page (> 0).
	Offset, Limit int
}
