package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Limits bound what one client or one user may take of the hub before it
// is refused: how long a request may take to arrive and to be answered, how
// big its headers and body may be, and how many long-lived connections
// (event streams, WebSockets) a user may hold at once. Proxied requests to
// /user/<name>/ are the app's business: they get no body limit and, once
// authorized, no read or write deadline (an upload, a download or a
// WebSocket may take hours), as with JupyterHub's proxy.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's headers; a client that
	// trickles them (slowloris) is cut off. Default: 10s.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, body included.
	// Default: 1m.
	ReadTimeout Duration `yaml:"read_timeout"`
	// WriteTimeout bounds answering a hub page or API call. Event streams
	// and proxied requests are exempt. Default: 1m.
	WriteTimeout Duration `yaml:"write_timeout"`
	// IdleTimeout closes a keep-alive connection with no request for this
	// long. Default: 90s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes bounds a request's headers; the single-user server
	// (Tornado) refuses more than 64K anyway. Default: 64K.
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes"`
	// MaxBodyBytes bounds the body of a request to the hub's own pages and
	// APIs (forms and JSON of a few kilobytes); larger gets 413.
	// Default: 1M.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// StreamsPerUser bounds one user's concurrent progress event streams
	// (the pending and home pages hold one each; browsers open at most six
	// connections per host). Default: 10.
	StreamsPerUser int `yaml:"streams_per_user"`
	// WebSocketsPerUser bounds the WebSockets one user has open through
	// the proxy at once (JupyterLab holds one per kernel session and
	// terminal, plus one for events). Default: 64.
	WebSocketsPerUser int `yaml:"websockets_per_user"`
}

// defaultLimits are Limits' defaults.
func defaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout: Duration(10 * time.Second),
		ReadTimeout:       Duration(time.Minute),
		WriteTimeout:      Duration(time.Minute),
		IdleTimeout:       Duration(90 * time.Second),
		MaxHeaderBytes:    64 << 10,
		MaxBodyBytes:      1 << 20,
		StreamsPerUser:    10,
		WebSocketsPerUser: 64,
	}
}

// Validate reports every problem in l, with paths relative to it.
func (l *Limits) Validate() []Problem {
	var ps problems
	positive(&ps, "read_header_timeout", l.ReadHeaderTimeout)
	positive(&ps, "read_timeout", l.ReadTimeout)
	positive(&ps, "write_timeout", l.WriteTimeout)
	positive(&ps, "idle_timeout", l.IdleTimeout)
	if l.MaxHeaderBytes < 4<<10 {
		ps.add("max_header_bytes", "%s is too small for a browser's headers (at least 4K)", l.MaxHeaderBytes)
	}
	if l.MaxBodyBytes < 4<<10 {
		ps.add("max_body_bytes", "%s is too small for the hub's forms (at least 4K)", l.MaxBodyBytes)
	}
	if l.StreamsPerUser < 1 {
		ps.add("streams_per_user", "must be at least 1")
	}
	if l.WebSocketsPerUser < 1 {
		ps.add("websockets_per_user", "must be at least 1")
	}
	return ps
}

// ByteSize is a number of bytes, written with a K, M or G suffix (powers
// of 1024: "64K", "1M"; "64KiB" and "64KB" mean the same) or as a bare
// number of bytes.
type ByteSize int64

// String prints b with the largest unit that divides it ("64K", "1M").
func (b ByteSize) String() string {
	switch {
	case b == 0:
		return "0"
	case b%(1<<30) == 0:
		return strconv.FormatInt(int64(b)>>30, 10) + "G"
	case b%(1<<20) == 0:
		return strconv.FormatInt(int64(b)>>20, 10) + "M"
	case b%(1<<10) == 0:
		return strconv.FormatInt(int64(b)>>10, 10) + "K"
	}
	return strconv.FormatInt(int64(b), 10)
}

// MarshalText writes b as String does.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

var reByteSize = regexp.MustCompile(`^([0-9]{1,10})(?:([KkMmGg])(?:[Ii]?[Bb])?)?$`)

func (b *ByteSize) parseScalar(s string) error {
	m := reByteSize.FindStringSubmatch(s)
	if m == nil {
		return fmt.Errorf("%q is not a size in bytes (use e.g. 65536, 64K or 1M)", s)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	switch strings.ToUpper(m[2]) {
	case "K":
		n <<= 10
	case "M":
		n <<= 20
	case "G":
		n <<= 30
	}
	if n > 1<<30 {
		return fmt.Errorf("%q is more than 1G", s)
	}
	*b = ByteSize(n)
	return nil
}
