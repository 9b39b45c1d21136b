package gateway

import (
	"fmt"
	"strings"
	"time"

	"hpcgate/batch"
)

// job is what the poller knows of one tracked server when it decides.
type job struct {
	State     ServerState // the server's state in the store
	Submitted time.Time   // when the job was submitted
	Started   time.Time   // when the hub saw it running (zero before)
	Walltime  time.Duration
}

// policy is a cluster's timeouts.
type policy struct {
	QueueTimeout time.Duration // 0: a job may wait in the queue forever
	StartTimeout time.Duration // from running to the app answering
}

// verdict is what one observation of a job means for its server.
type verdict struct {
	To      ServerState // new server state; "" keeps the state
	Reason  string
	Cancel  bool // the hub must cancel the job (a timeout)
	Failed  bool
	EndedBy string // "walltime", "user", "scheduler", "queue-timeout", "start-timeout", "exit"
}

// decide maps a scheduler's report on a job to the server's next state.
// present is false when the scheduler no longer lists the job and a second
// signal (history, or a repeated miss) confirmed that it ended; st is then
// the history's report if it had one.
func decide(j job, st batch.JobStatus, now time.Time, p policy) verdict {
	switch st.State {
	case batch.StatePending:
		if j.State == StateStopping {
			return verdict{}
		}
		if p.QueueTimeout > 0 && !j.Submitted.IsZero() && now.Sub(j.Submitted) > p.QueueTimeout {
			return verdict{To: StateFailed, Failed: true, Cancel: true, EndedBy: "queue-timeout",
				Reason: fmt.Sprintf("The job waited %s in the queue, longer than this site's queue timeout of %s, and was cancelled. The scheduler's last reason: %s.",
					roundDur(now.Sub(j.Submitted)), roundDur(p.QueueTimeout), orNone(st.Reason))}
		}
		if j.State == StateSubmitting || j.State == StateQueued {
			return verdict{To: StateQueued, Reason: st.Reason}
		}
	case batch.StateRunning:
		switch j.State {
		case StateSubmitting, StateQueued:
			return verdict{To: StateStarting}
		case StateStarting:
			if p.StartTimeout > 0 && !j.Started.IsZero() && now.Sub(j.Started) > p.StartTimeout {
				return verdict{To: StateFailed, Failed: true, Cancel: true, EndedBy: "start-timeout",
					Reason: fmt.Sprintf("The job started on %s but the app did not answer within %s, so the job was cancelled.",
						orNone(st.Node), roundDur(p.StartTimeout))}
			}
		}
	case batch.StateCompleting:
		// Ending; the final state follows on a later poll.
	case batch.StateUnrecognised:
		// Listed in a state word the adapter does not know: the job may be
		// running and serving. Nothing changes; the raw word is shown.
	case batch.StateCompleted, batch.StateFailed, batch.StateCancelled, batch.StateTimeout, batch.StateUnknown:
		return ended(j, st)
	}
	return verdict{}
}

// unrecognisedPrefix starts the reason shown while the scheduler lists a
// job in a state the adapter does not map.
const unrecognisedPrefix = "The scheduler reports job "

// unrecognisedReason is that reason, with the scheduler's own word.
func unrecognisedReason(st batch.JobStatus) string {
	return unrecognisedPrefix + st.ID + " as " + orNone(st.RawState) +
		", a state hpcgate does not act on: the server is left as it is until the job's state changes."
}

// tracked is what a scheduler record must match to be about a server: the
// job id the hub recorded, the owner, and the unique job name it gave.
type tracked struct {
	JobID, User, JobName string
}

// belongs reports whether st is a record about t's job, and if not, why.
// Scheduler output is hostile text: a record naming another owner or
// another job name is not acted on, whatever it claims. The one record
// without owner and name is a confirmation of absence (State StateUnknown,
// from History's own query about that id), which claims nothing else.
// An empty JobName (a server recorded before names were unique) is not
// compared.
func belongs(t tracked, st batch.JobStatus) (ok bool, why string) {
	switch {
	case st.ID != t.JobID:
		return false, "job id " + batch.Clip(st.ID) + ", not " + t.JobID
	case st.State == batch.StateUnknown && st.User == "" && st.Name == "":
		return true, ""
	case st.User != t.User:
		return false, "owner " + batch.Clip(st.User) + ", not " + t.User
	case t.JobName != "" && st.Name != t.JobName:
		return false, "job name " + batch.Clip(st.Name) + ", not " + t.JobName
	}
	return true, ""
}

// ended decides the final state of a job that has left the queue.
func ended(j job, st batch.JobStatus) verdict {
	if j.State == StateStopping {
		return verdict{To: StateStopped, EndedBy: "user", Reason: "Stopped."}
	}
	wasUp := j.State == StateReady
	switch st.State {
	case batch.StateTimeout:
		return verdict{To: StateStopped, EndedBy: "walltime",
			Reason: fmt.Sprintf("The job reached the end of its walltime (%s) and the scheduler ended it.", roundDur(j.Walltime))}
	case batch.StateCancelled:
		return verdict{To: StateStopped, EndedBy: "scheduler",
			Reason: "The job was cancelled outside hpcgate (by you with the scheduler's own command, or by an administrator)." + reasonSuffix(st)}
	case batch.StateCompleted:
		if wasUp {
			return verdict{To: StateStopped, EndedBy: "exit", Reason: "The app exited and the job ended."}
		}
		return verdict{To: StateFailed, Failed: true, EndedBy: "exit",
			Reason: "The job ended before the app answered." + reasonSuffix(st)}
	case batch.StateFailed:
		return verdict{To: StateFailed, Failed: true, EndedBy: "exit",
			Reason: fmt.Sprintf("The job failed with exit code %d.%s", st.ExitCode, reasonSuffix(st))}
	}
	if wasUp {
		return verdict{To: StateStopped, EndedBy: "scheduler",
			Reason: "The job ended; the scheduler keeps no record of how." + reasonSuffix(st)}
	}
	return verdict{To: StateFailed, Failed: true, EndedBy: "scheduler",
		Reason: "The job is no longer known to the scheduler and no record says how it ended."}
}

func reasonSuffix(st batch.JobStatus) string {
	r := strings.TrimSpace(st.Reason)
	if r == "" {
		return ""
	}
	return " The scheduler says: " + r + "."
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "none given"
	}
	return s
}

// roundDur prints d rounded for people: 2h30m, 45m, 1m20s, 20s; to the
// minute from an hour on, to the second below.
func roundDur(d time.Duration) string {
	if d >= time.Hour {
		d = d.Round(time.Minute)
	} else {
		d = d.Round(time.Second)
	}
	h, m, sec := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	switch {
	case h > 0 && m > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	case h > 0:
		return fmt.Sprintf("%dh", h)
	case m > 0 && sec > 0:
		return fmt.Sprintf("%dm%ds", m, sec)
	case m > 0:
		return fmt.Sprintf("%dm", m)
	}
	return fmt.Sprintf("%ds", sec)
}
