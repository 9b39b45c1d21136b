package store

import (
	"math/rand/v2"
	"testing"
	"time"
)

// parseStamp reads exactly what time.Parse reads in tsLayout, and leaves
// everything else (other layouts, impossible dates) to time.Parse.
func TestParseStamp(t *testing.T) {
	var in []string
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		tt := time.Unix(r.Int64N(1<<35)-1<<33, r.Int64N(1e9)).UTC()
		in = append(in, tt.Truncate(time.Microsecond).Format(tsLayout))
	}
	in = append(in,
		"2025-03-01T12:00:00.000000Z", "0000-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z",
		"2024-02-29T00:00:00.000000Z", "2025-02-29T00:00:00.000000Z", "2025-02-30T00:00:00.000000Z",
		"2025-04-31T00:00:00.000000Z", "2025-13-01T00:00:00.000000Z", "2025-00-01T00:00:00.000000Z",
		"2025-01-00T00:00:00.000000Z", "2025-01-01T24:00:00.000000Z", "2025-01-01T00:60:00.000000Z",
		"2025-01-01T00:00:60.000000Z", "2025-01-01T00:00:00.00000aZ", "2025-01-01 00:00:00.000000Z",
		"2025-01-01T00:00:00.000000+01:00", "2025-01-01T00:00:00Z", "+025-01-01T00:00:00.000000Z",
		"2025-01-01T00:00:00.000000z", "", "2025-01-01T00:00:00.0000000Z")
	for _, s := range in {
		want, werr := time.Parse(tsLayout, s)
		got, ok := parseStamp(s)
		switch {
		case ok && werr != nil:
			t.Errorf("%q: read as %v; time.Parse refuses it: %v", s, got, werr)
		case ok && !got.Equal(want):
			t.Errorf("%q: read as %v, time.Parse reads %v", s, got, want)
		case ok && got.Location() != time.UTC:
			t.Errorf("%q: in %v, want UTC", s, got.Location())
		case !ok && werr == nil && len(s) == 27 && s[26] == 'Z':
			t.Errorf("%q: left to time.Parse, which reads it", s)
		}
	}
}
