package web

import (
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// The user and server models are written by hand: a page of 200 users
// through encoding/json spent its time sorting map keys and reflecting
// over interface values. The output is byte for byte what encoding/json
// writes for the same values (strings HTML-escaped, times in RFC 3339
// with nanoseconds, a map's keys sorted); modeljson_test.go holds it to
// that.

// jsonAppender is a value that writes itself as JSON.
type jsonAppender interface {
	appendJSON(b []byte) []byte
}

// userList is a list of user models; nil models (users the caller may
// read nothing of) are written as null, as encoding/json writes them.
type userList []*userModel

func (l userList) appendJSON(b []byte) []byte {
	b = append(b, '[')
	for i, m := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = m.appendJSON(b)
	}
	return append(b, ']')
}

// MarshalJSON lets a single model go through c.JSON.
func (m *userModel) MarshalJSON() ([]byte, error) { return m.appendJSON(nil), nil }

func (m *userModel) appendJSON(b []byte) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	first := true
	key := func(k string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, '"', ':')
	}
	if m.keys&keyKind != 0 {
		key("kind")
		b = append(b, `"user"`...)
	}
	if m.keys&keyName != 0 {
		key("name")
		b = appendString(b, m.Name)
	}
	if m.keys&keyAdmin != 0 {
		key("admin")
		b = strconv.AppendBool(b, m.Admin)
	}
	if m.keys&keyRoles != 0 {
		key("roles")
		if m.Admin {
			b = append(b, `["user","admin"]`...)
		} else {
			b = append(b, `["user"]`...)
		}
	}
	if m.keys&keyGroups != 0 {
		key("groups")
		b = appendStrings(b, m.Groups)
	}
	if m.keys&keyServer != 0 {
		key("server")
		b = appendStringPtr(b, m.Server)
	}
	if m.keys&keyPending != 0 {
		key("pending")
		b = appendStringPtr(b, m.Pending)
	}
	if m.keys&keyCreated != 0 {
		key("created")
		b = appendTime(b, m.Created)
	}
	if m.keys&keyLastActivity != 0 {
		key("last_activity")
		b = appendTime(b, m.LastActivity)
	}
	if m.keys&keyAuthState != 0 {
		key("auth_state")
		b = append(b, "null"...) // hpcgate keeps no auth state
	}
	if m.keys&keyServers != 0 {
		key("servers")
		b = append(b, '{')
		for i, sv := range m.Servers {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, sv.Name)
			b = append(b, ':')
			b = sv.appendJSON(b)
		}
		b = append(b, '}')
	}
	if m.self != nil {
		key("scopes")
		b = appendStrings(b, m.self.Scopes)
		key("session_id")
		b = appendStringPtr(b, m.self.SessionID)
	}
	return append(b, '}')
}

// appendJSON writes s as encoding/json writes the struct (its field order
// and tags).
func (s *serverModel) appendJSON(b []byte) []byte {
	b = append(b, `{"name":`...)
	b = appendString(b, s.Name)
	b = append(b, `,"last_activity":`...)
	b = appendTime(b, s.LastActivity)
	b = append(b, `,"started":`...)
	b = appendTime(b, s.Started)
	b = append(b, `,"pending":`...)
	b = appendStringPtr(b, s.Pending)
	b = append(b, `,"ready":`...)
	b = strconv.AppendBool(b, s.Ready)
	b = append(b, `,"stopped":`...)
	b = strconv.AppendBool(b, s.Stopped)
	b = append(b, `,"url":`...)
	b = appendString(b, s.URL)
	b = append(b, `,"user_options":`...)
	if s.UserOptions == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		keys := make([]string, 0, len(s.UserOptions))
		for k := range s.UserOptions {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, s.UserOptions[k])
		}
		b = append(b, '}')
	}
	b = append(b, `,"progress_url":`...)
	b = appendString(b, s.ProgressURL)
	if s.State != nil {
		b = append(b, `,"state":{"job_id":`...)
		b = appendString(b, s.State.JobID)
		b = append(b, `,"job_status":`...)
		b = appendString(b, s.State.JobStatus)
		b = append(b, '}')
	}
	b = append(b, `,"hpcgate":`...)
	if h := s.HPCGate; h == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"cluster":`...)
		b = appendString(b, h.Cluster)
		b = append(b, `,"profile":`...)
		b = appendString(b, h.Profile)
		b = append(b, `,"job_id":`...)
		b = appendString(b, h.JobID)
		b = append(b, `,"state":`...)
		b = appendString(b, h.State)
		b = append(b, `,"node":`...)
		b = appendString(b, h.Node)
		b = append(b, `,"reason":`...)
		b = appendString(b, h.Reason)
		b = append(b, `,"submitted":`...)
		b = appendTime(b, h.Submitted)
		b = append(b, `,"estimated_start":`...)
		b = appendTime(b, h.EstimatedStart)
		b = append(b, `,"walltime_seconds":`...)
		b = strconv.AppendInt(b, h.WalltimeSeconds, 10)
		b = append(b, `,"walltime_left_seconds":`...)
		b = strconv.AppendInt(b, h.WalltimeLeftSeconds, 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendString writes s quoted. Plain printable ASCII, which names and
// URLs are, is copied; anything else goes through encoding/json, so the
// escaping is always its own.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil { // cannot happen for a string
				return append(b, `""`...)
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendStringPtr(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendString(b, *s)
}

// appendStrings writes a list; nil is null, as encoding/json writes it.
func appendStrings(b []byte, l []string) []byte {
	if l == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendTime writes t as time.Time's MarshalJSON does; nil is null.
func appendTime(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	if y := t.Year(); y < 0 || y > 9999 {
		// MarshalJSON refuses these; encoding/json would fail the whole
		// response. Such a time is a bug upstream: show it as unknown.
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// jsonBuffers are reused between responses: a page of 200 users is
// some 40 KB.
var jsonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// writeJSON answers with prefix, v's JSON and suffix, written into a
// pooled buffer.
func writeJSON(c *gin.Context, code int, contentType, prefix string, v jsonAppender, suffix []byte) {
	bp := jsonBuffers.Get().(*[]byte)
	b := append((*bp)[:0], prefix...)
	b = v.appendJSON(b)
	b = append(b, suffix...)
	// With its length known, net/http writes the body as it is, not
	// in chunks.
	c.Header("Content-Length", strconv.Itoa(len(b)))
	c.Data(code, contentType, b)
	if cap(b) <= 1<<20 { // a huge page's buffer is not kept
		*bp = b
		jsonBuffers.Put(bp)
	}
}
