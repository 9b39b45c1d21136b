package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Duration is a Go duration written "90s", "30m" or "2h" ("0s" or 0 for
// off where a setting allows it). Negative durations are refused: no
// setting has a use for them.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String prints d the way the site file writes it ("1h30m", not "1h30m0s").
func (d Duration) String() string { return formatDuration(time.Duration(d)) }

// MarshalText writes d as String does, so a Config dumps as it is written.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d *Duration) parseScalar(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a duration (use e.g. 90s, 30m or 2h)", s)
	}
	*d = Duration(v)
	return nil
}

// Walltime is a job's time limit. Besides Go durations ("90m", "2h") it
// takes the forms Slurm takes: "MM", "MM:SS", "HH:MM:SS", "D-HH",
// "D-HH:MM" and "D-HH:MM:SS".
type Walltime time.Duration

// D returns w as a time.Duration.
func (w Walltime) D() time.Duration { return time.Duration(w) }

// String prints w as a Go duration ("1h30m").
func (w Walltime) String() string { return formatDuration(time.Duration(w)) }

// MarshalText writes w as String does.
func (w Walltime) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

func (w *Walltime) parseScalar(s string) error {
	v, err := ParseWalltime(s)
	if err != nil {
		return err
	}
	*w = v
	return nil
}

// reSlurmTime is Slurm's time format: [days-]hours[:minutes[:seconds]] when
// days are given, minutes[:seconds] or hours:minutes:seconds otherwise.
var reSlurmTime = regexp.MustCompile(`^(?:([0-9]{1,4})-)?([0-9]{1,7})(?::([0-9]{1,2}))?(?::([0-9]{1,2}))?$`)

// ParseWalltime parses a walltime in Go or Slurm form. The error message
// shows the forms it takes.
func ParseWalltime(s string) (Walltime, error) {
	bad := fmt.Errorf("%q is not a duration (use 90m, 2h, 1:30:00 or 2-00:00:00)", s)
	if strings.IndexFunc(s, unicode.IsLetter) >= 0 {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return 0, bad
		}
		return Walltime(d), nil
	}
	m := reSlurmTime.FindStringSubmatch(s)
	if m == nil {
		return 0, bad
	}
	num := func(i int) int64 {
		n, _ := strconv.ParseInt(m[i], 10, 64) // "" (absent) is 0
		return n
	}
	var d, h, min, sec int64
	switch {
	case m[1] != "": // D-HH[:MM[:SS]]
		d, h, min, sec = num(1), num(2), num(3), num(4)
		if h > 23 || min > 59 || sec > 59 {
			return 0, bad
		}
	case m[4] != "": // HH:MM:SS, where hours may exceed a day
		h, min, sec = num(2), num(3), num(4)
		if min > 59 || sec > 59 {
			return 0, bad
		}
	default: // MM[:SS], where minutes may exceed an hour
		min, sec = num(2), num(3)
		if sec > 59 {
			return 0, bad
		}
	}
	total := ((d*24+h)*60+min)*60 + sec
	if total > int64(maxWalltime/time.Second) {
		return 0, fmt.Errorf("%q is longer than a year", s)
	}
	return Walltime(time.Duration(total) * time.Second), nil
}

// formatDuration prints whole hours, minutes and seconds without the zero
// parts Go's String adds ("8h", "1h30m", "0s").
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	if d < 0 || d%time.Second != 0 {
		return d.String()
	}
	var b strings.Builder
	h, m, s := d/time.Hour, d%time.Hour/time.Minute, d%time.Minute/time.Second
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if s > 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}

// MemoryMB is an amount of memory in megabytes (1024² bytes), written with
// a K, M, G or T suffix ("512M", "4G"; "4GB" and "4GiB" mean the same) or
// as a bare number of megabytes, as Slurm does. Kilobytes are rounded up to
// a whole megabyte.
type MemoryMB int

// String prints m with the largest unit that divides it ("4G", "1536M").
func (m MemoryMB) String() string {
	switch {
	case m == 0:
		return "0"
	case m%(1<<20) == 0:
		return strconv.Itoa(int(m)>>20) + "T"
	case m%(1<<10) == 0:
		return strconv.Itoa(int(m)>>10) + "G"
	}
	return strconv.Itoa(int(m)) + "M"
}

// MarshalText writes m as String does.
func (m MemoryMB) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

func (m *MemoryMB) parseScalar(s string) error {
	v, err := ParseMemory(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

var reMemory = regexp.MustCompile(`^([0-9]{1,12})(?:([KkMmGgTt])(?:[Ii]?[Bb])?)?$`)

// ParseMemory parses a memory size; see MemoryMB for the forms.
func ParseMemory(s string) (MemoryMB, error) {
	m := reMemory.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a memory size (use e.g. 512M, 4G or 1T)", s)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	switch strings.ToUpper(m[2]) {
	case "K":
		n = (n + 1023) / 1024
	case "G":
		n <<= 10
	case "T":
		n <<= 20
	}
	if n > maxMemoryMB {
		return 0, fmt.Errorf("%q is more memory than any node has", s)
	}
	return MemoryMB(n), nil
}

// Limits that batch.JobSpec.Validate enforces; the config refuses ranges
// beyond them so a profile can never offer what cannot be submitted.
const (
	maxCores    = 100000
	maxGPUs     = 1024
	maxMemoryMB = 1 << 30
	minWalltime = time.Minute
	maxWalltime = 366 * 24 * time.Hour
)
