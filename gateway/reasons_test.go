package gateway_test

import "testing"

// wordsScheduler is the fake scheduler with reason words of its own.
type wordsScheduler struct{ *fakeScheduler }

func (wordsScheduler) ExplainReason(raw string) string {
	if raw == "Busy" {
		return "waiting for free nodes"
	}
	return ""
}

// TestExplainReason: the words are the cluster's scheduler's, and only
// where its adapter has some.
func TestExplainReason(t *testing.T) {
	h, fake, _, _ := newTestHub(t)
	if got := h.ExplainReason("c1", "Busy"); got != "" {
		t.Errorf("a scheduler without words explained Busy as %q", got)
	}
	h.cluster.Scheduler = wordsScheduler{fake}
	for _, tc := range []struct{ cluster, raw, want string }{
		{"c1", "Busy", "waiting for free nodes"},
		{"c1", "Unheard", ""},
		{"c1", "", ""},
		{"nosuch", "Busy", ""},
	} {
		if got := h.ExplainReason(tc.cluster, tc.raw); got != tc.want {
			t.Errorf("ExplainReason(%q, %q) = %q, want %q", tc.cluster, tc.raw, got, tc.want)
		}
	}
}
