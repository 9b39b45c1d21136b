package pbs

import (
	"strings"

	"hpcgate/batch"
)

var _ batch.ReasonExplainer = (*Scheduler)(nil)

// commentWords says in plain words why PBS keeps a job waiting. The job's
// comment is the only place PBS says why, so a comment is matched by the
// phrase it starts with; a longer phrase comes before any shorter one it
// starts with, so the most specific matches first. A comment matching
// none is shown raw.
var commentWords = []struct{ phrase, words string }{
	{"Not Running: Insufficient amount of resource", "waiting for free nodes"},
	{"Not Running: Job would exceed queue limit", "the queue's limit for you is reached"},
	{"Not Running: User has reached server running job limit", "you already have the most jobs allowed running"},
	{"Not Running: Queue not started", "the queue is stopped"},
	{"Not Running: Server is not started", "the scheduler is not running jobs"},
	{"Job held by", "held"},
	{"Job held", "held"},
}

// ExplainReason has the words for the phrase a comment starts with, so
// "Not Running: Insufficient amount of resource: ncpus (R: 64 A: 8 T: 8)"
// finds its words; "" for a comment without any.
func (s *Scheduler) ExplainReason(raw string) string {
	raw = strings.TrimSpace(raw)
	for _, c := range commentWords {
		if strings.HasPrefix(raw, c.phrase) {
			return c.words
		}
	}
	return ""
}
