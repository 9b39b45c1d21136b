package sge

import (
	"strings"
	"testing"
)

func TestExplainReason(t *testing.T) {
	tests := []struct{ raw, want string }{
		{ReasonHeld, "held"},
		{ReasonError + `: error: can't open output file "/x/y.log": No such file or directory`, "the job could not open its log file; cancel it and start again"},
		{ReasonError + ": error: something else", "Grid Engine could not start the job; cancel it, or ask an administrator to clear the error (qmod -cj)"},
		{ReasonSuspended, "suspended"},
		{ReasonQueueSuspended, "suspended by an administrator"},
		{ReasonThresholdSuspended, "suspended while its node is busy"},
		{ReasonDeleting, "being cancelled"},
		// Slurm's and PBS's words are theirs: Grid Engine never says them.
		{"Resources", ""},
		{"Not Running: Insufficient amount of resource", ""},
		{"", ""},
	}
	s := newTestScheduler(t, nil)
	for _, tt := range tests {
		if got := s.ExplainReason(tt.raw); got != tt.want {
			t.Errorf("ExplainReason(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

// TestReasonWordsOrder: a phrase never follows a shorter one it starts
// with, which would match first and hide it.
func TestReasonWordsOrder(t *testing.T) {
	for i, earlier := range reasonWords {
		for _, later := range reasonWords[i+1:] {
			if strings.HasPrefix(later.phrase, earlier.phrase) {
				t.Errorf("%q comes after %q, which matches first", later.phrase, earlier.phrase)
			}
		}
	}
}
