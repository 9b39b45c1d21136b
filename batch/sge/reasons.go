package sge

import "strings"

// reasonWords says in plain words why Grid Engine keeps a job waiting. Its
// reasons here come from the job's state letters (see mapState), with the
// error's own words after ReasonError: a reason is matched by the phrase it
// starts with, a longer phrase before any shorter one it starts with. A
// reason matching none is shown raw.
var reasonWords = []struct{ phrase, words string }{
	{ReasonHeld, "held"},
	{ReasonError + ": error: can't open output file", "the job could not open its log file; cancel it and start again"},
	{ReasonError, "Grid Engine could not start the job; cancel it, or ask an administrator to clear the error (qmod -cj)"},
	{ReasonDeleting, "being cancelled"},
	{ReasonQueueSuspended, "suspended by an administrator"},
	{ReasonThresholdSuspended, "suspended while its node is busy"},
	{ReasonSuspended, "suspended"},
}

// ExplainReason has the words for the phrase a reason starts with; "" for a
// reason without any.
func (s *Scheduler) ExplainReason(raw string) string {
	raw = strings.TrimSpace(raw)
	for _, c := range reasonWords {
		if strings.HasPrefix(raw, c.phrase) {
			return c.words
		}
	}
	return ""
}
