package pbs

import "strings"

// commentWords says in plain words why PBS keeps a job waiting, keyed by
// the leading phrase of the job's comment, the only place PBS says why. A
// comment matching none is shown raw.
var commentWords = map[string]string{
	"Not Running: Insufficient amount of resource":           "waiting for free nodes",
	"Not Running: Job would exceed queue limit":              "the queue's limit for you is reached",
	"Not Running: User has reached server running job limit": "you already have the most jobs allowed running",
	"Not Running: Queue not started":                         "the queue is stopped",
	"Not Running: Server is not started":                     "the scheduler is not running jobs",
	"Job held by":                                            "held",
	"Job held":                                               "held",
}

// ExplainReason turns a pending reason into plain words, or "" when there
// are none. The longest phrase the comment starts with wins, so "Not
// Running: Insufficient amount of resource: ncpus (R: 64 A: 8 T: 8)" finds
// its words.
func (s *Scheduler) ExplainReason(raw string) string {
	raw = strings.TrimSpace(raw)
	best := ""
	for phrase := range commentWords {
		if len(phrase) > len(best) && strings.HasPrefix(raw, phrase) {
			best = phrase
		}
	}
	return commentWords[best]
}
