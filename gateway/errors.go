package gateway

import (
	"errors"
	"fmt"
)

// ErrNotFound and ErrConflict are the stores' answers, wrapped with what
// was looked up or written.
var (
	// ErrNotFound: no such user, server, token, session or code (an
	// expired or revoked one counts as absent).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the write contradicts what is stored (a server that is
	// already active, a job name already used, a job id already set).
	ErrConflict = errors.New("conflict")
)

// Error codes, mapped to HTTP statuses in one table by the web package.
const (
	EINVALID     = "invalid"     // bad input: a form value, a request body
	ENOTFOUND    = "not_found"   // no such user, server or token
	ECONFLICT    = "conflict"    // the server is already running, or not running
	EFORBIDDEN   = "forbidden"   // not yours
	EUNAVAILABLE = "unavailable" // the cluster or the directory cannot be reached
	EINTERNAL    = "internal"
)

// Error is an error a user may see: Message is written for them.
type Error struct {
	Code    string
	Message string
	// Fields names the form fields that were wrong, each with its message.
	Fields map[string]string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, a ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// ErrorCode returns the code of the *Error in err's chain, EINTERNAL for any
// other error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err: the *Error's message,
// or a generic one for internal errors (whose detail belongs in the log).
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
