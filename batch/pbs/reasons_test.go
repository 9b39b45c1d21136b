package pbs

import (
	"strings"
	"testing"
)

func TestExplainReason(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"Not Running: Insufficient amount of resource: ncpus (R: 64 A: 8 T: 8)", "waiting for free nodes"},
		{"Not Running: Job would exceed queue limit", "the queue's limit for you is reached"},
		{"Not Running: Queue not started", "the queue is stopped"},
		{"Job held by alice on Sat Mar  1 12:00:00 2025", "held"},
		{"  Not Running: Server is not started ", "the scheduler is not running jobs"},
		{"Not Running: something new", ""},
		// Slurm's codes are Slurm's: PBS never says them.
		{"Resources", ""},
		{"", ""},
	}
	s := New(nil, Options{})
	for _, tt := range tests {
		if got := s.ExplainReason(tt.raw); got != tt.want {
			t.Errorf("ExplainReason(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

// TestCommentWordsOrder: a phrase never follows a shorter one it starts
// with, which would match first and hide it.
func TestCommentWordsOrder(t *testing.T) {
	for i, earlier := range commentWords {
		for _, later := range commentWords[i+1:] {
			if strings.HasPrefix(later.phrase, earlier.phrase) {
				t.Errorf("%q comes after %q, which matches first", later.phrase, earlier.phrase)
			}
		}
	}
}
