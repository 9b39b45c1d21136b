package pbs

import "testing"

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
