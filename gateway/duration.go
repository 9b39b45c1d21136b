package gateway

import (
	"fmt"
	"time"
)

// FormatDuration is how hpcgate writes a duration for people, everywhere
// (pages, messages, events, reasons): "2d 4h", "1h 05m", "3m 07s", "42s".
// The browser's live counters (templates/static/hpcgate.js, duration)
// write the same, so a page and its counter never disagree.
func FormatDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	days, h, m, sec := s/86400, (s%86400)/3600, (s%3600)/60, s%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh %02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %02ds", m, sec)
	}
	return fmt.Sprintf("%ds", sec)
}
