package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a site file, where it is and which key it
// concerns. Path is the key path from the top of the file, such as
// clusters[0].profiles[1].walltime.max; for a missing key it names the key
// and the position is that of the nearest enclosing key that is present.
type Problem struct {
	File         string
	Line, Column int // 1-based; 0 when unknown
	Path         string
	Message      string
}

// Error prints "file:line:col: path: message", leaving out the parts that
// are unknown (a Config built in code has no file or lines).
func (p Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File + ":")
	}
	if p.Line > 0 {
		b.WriteString(strconv.Itoa(p.Line) + ":")
		if p.Column > 0 {
			b.WriteString(strconv.Itoa(p.Column) + ":")
		}
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Errors is every problem found in a site file, in file order, so an
// administrator can fix them in one pass.
type Errors struct {
	Problems []Problem
}

// Error prints one problem per line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// problems collects Problems whose paths are relative to one component;
// Validate methods fill one and the caller prefixes the component's path.
type problems []Problem

func (ps *problems) add(path, format string, a ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, a...)})
}

// addAll adds more with prefix (a key or an index like "[2]") in front of
// their paths.
func (ps *problems) addAll(prefix string, more []Problem) {
	for _, p := range more {
		p.Path = joinPath(prefix, p.Path)
		*ps = append(*ps, p)
	}
}

// joinPath joins key paths: "a" + "b" is "a.b", "a" + "[0]" is "a[0]".
func joinPath(prefix, rest string) string {
	switch {
	case prefix == "":
		return rest
	case rest == "":
		return prefix
	case strings.HasPrefix(rest, "["):
		return prefix + rest
	}
	return prefix + "." + rest
}

// parentPath strips the last key or index: a.b[0].c → a.b[0] → a.b → a → "".
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// sortProblems orders problems by position; problems without one keep
// their order after the others.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if (a.Line == 0) != (b.Line == 0) {
			return a.Line != 0
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

// FieldError is one spawn option that a profile does not allow; Message
// names the allowed range or choices so a person can correct the form.
type FieldError struct {
	Field   string
	Message string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// FieldErrors is every spawn option that was refused.
type FieldErrors struct {
	Errors []FieldError
}

// Error joins the problems with "; " so the message fits one line of a form
// or an API response.
func (e *FieldErrors) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.Error()
	}
	return strings.Join(parts, "; ")
}

func (e *FieldErrors) add(field, format string, a ...any) {
	e.Errors = append(e.Errors, FieldError{Field: field, Message: fmt.Sprintf(format, a...)})
}

// Field returns the message for field, or "" when the field was fine; forms
// use it to put the message next to the input.
func (e *FieldErrors) Field(field string) string {
	for _, fe := range e.Errors {
		if fe.Field == field {
			return fe.Message
		}
	}
	return ""
}
