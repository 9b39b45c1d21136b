// Package gateway is the hub's domain: users' servers and their lifecycle
// from spawn form to running notebook, the per-cluster poller that follows
// every job with one scheduler query per interval, and the progress events
// users watch while their job waits in the queue.
//
// It talks to clusters only through the batch interfaces and never imports
// an adapter (sshexec, slurm, pbs); cmd wires those in. The adapters under
// gateway (store, ldapauth, proxy, web) are wired by cmd as well.
package gateway

import (
	"errors"
	"fmt"
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
