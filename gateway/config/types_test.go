package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseWalltime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"90s", 90 * time.Second},
		{"30m", 30 * time.Minute},
		{"2h", 2 * time.Hour},
		{"1h30m", 90 * time.Minute},
		{"90", 90 * time.Minute},                 // Slurm MM
		{"5:30", 5*time.Minute + 30*time.Second}, // MM:SS
		{"1:30:00", 90 * time.Minute},            // HH:MM:SS
		{"36:00:00", 36 * time.Hour},             // hours beyond a day
		{"2-00:00:00", 48 * time.Hour},           // D-HH:MM:SS
		{"1-12", 36 * time.Hour},                 // D-HH
		{"1-12:30", 36*time.Hour + 30*time.Minute},
		{"0", 0},
	} {
		got, err := ParseWalltime(tc.in)
		if err != nil || got.D() != tc.want {
			t.Errorf("ParseWalltime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		// What String prints must read back the same.
		if back, err := ParseWalltime(got.String()); err != nil || back != got {
			t.Errorf("ParseWalltime(%q) = %v, %v; want %v", got.String(), back, err, got)
		}
	}
	for _, in := range []string{
		"2 hours", "", "-1h", "1:60:00", "1:30:60", "1-24", "1-1:60", "5:60", "1:2:3:4",
		"h", "1d", "1h;id", "$(id)", "1e3", "12345678-00", "400-00:00:00",
	} {
		if got, err := ParseWalltime(in); err == nil {
			t.Errorf("ParseWalltime(%q) = %v, want an error", in, got)
		} else if !strings.HasPrefix(err.Error(), `"`) {
			t.Errorf("ParseWalltime(%q) error %q does not start with the value", in, err)
		}
	}
}

func TestParseMemory(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want MemoryMB
		str  string
	}{
		{"512M", 512, "512M"},
		{"512", 512, "512M"},
		{"4G", 4096, "4G"},
		{"4g", 4096, "4G"},
		{"4GB", 4096, "4G"},
		{"4GiB", 4096, "4G"},
		{"1536M", 1536, "1536M"},
		{"1T", 1 << 20, "1T"},
		{"1K", 1, "1M"}, // rounded up to a whole megabyte
		{"2048K", 2, "2M"},
		{"0", 0, "0"},
	} {
		got, err := ParseMemory(tc.in)
		if err != nil || got != tc.want || got.String() != tc.str {
			t.Errorf("ParseMemory(%q) = %v (%d), %v; want %s (%d)", tc.in, got, int(got), err, tc.str, tc.want)
		}
	}
	for _, in := range []string{"lots", "", "4 G", "4X", "1.5G", "-1G", "4B", "4G;id", "2000T"} {
		if got, err := ParseMemory(in); err == nil {
			t.Errorf("ParseMemory(%q) = %v, want an error", in, got)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		str  string
	}{
		{"90s", 90 * time.Second, "1m30s"},
		{"720h", 720 * time.Hour, "720h"},
		{"0s", 0, "0s"},
		{"0", 0, "0s"},
		{"1500ms", 1500 * time.Millisecond, "1.5s"},
	} {
		var d Duration
		if err := d.parseScalar(tc.in); err != nil || d.D() != tc.want || d.String() != tc.str {
			t.Errorf("Duration %q = %v (%s), %v; want %v (%s)", tc.in, d.D(), d, err, tc.want, tc.str)
		}
	}
	for _, in := range []string{"30", "2 hours", "-1s", "1d", ""} {
		var d Duration
		if err := d.parseScalar(in); err == nil {
			t.Errorf("Duration %q = %v, want an error", in, d)
		}
	}
}
