package slurm

import "testing"

func TestExplainReason(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"Resources", "waiting for free nodes"},
		{"Priority", "other jobs have priority"},
		{"JobHeldUser", "held (by you or on your behalf); release it or cancel"},
		{"BeginTime", "waiting for its requested start time"},
		{"QOSMaxJobsPerUserLimit", "you already have the most jobs your QOS allows running"},
		{"AssocGrpCPULimit", "your account's group has used all its cores for now"},
		{"ReqNodeNotAvail, UnavailableNodes:c[1-2]", "the nodes it needs are unavailable (down, drained or reserved)"},
		{"PartitionTimeLimit", "the walltime asked for is above the partition's limit; it will not start"},
		{"launch failed requeued held", "failed to launch and was held; cancel and start again"},
		{"  Priority ", "other jobs have priority"},
		{"SomethingNew", ""},
		// PBS's words are PBS's: Slurm never says them.
		{"Not Running: Insufficient amount of resource: ncpus", ""},
		{"", ""},
	}
	s := New(nil, Options{})
	for _, tt := range tests {
		if got := s.ExplainReason(tt.raw); got != tt.want {
			t.Errorf("ExplainReason(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}
