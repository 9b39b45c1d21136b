package gateway

import (
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {-time.Second, "0s"}, {42 * time.Second, "42s"}, {3*time.Minute + 7*time.Second, "3m 07s"},
		{time.Hour + 5*time.Minute, "1h 05m"}, {90 * time.Minute, "1h 30m"}, {52 * time.Hour, "2d 4h"},
		{24 * time.Hour, "1d 0h"}, {45*time.Second + time.Millisecond, "45s"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.d); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
