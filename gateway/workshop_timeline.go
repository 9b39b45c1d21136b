package gateway

import (
	"sort"
	"time"

	"hpcgate/gateway/config"
)

// What the workshop timeline does at one tick, decided as a pure function
// of the schedule, the roster and the workshop's jobs, and applied by
// Hub.WorkshopTick.

// Timeline action kinds.
const (
	tlStart = "start" // start the attendee's server for the session
	tlWarn  = "warn"  // tell the attendee the session ends soon
	tlStop  = "stop"  // stop the server of a session that ended
)

type tlAction struct {
	Kind    string
	User    string
	Session int
	Job     *WorkshopJob // the job to warn about or stop
}

// SessionEndWarning is how long before a session's end its attendees are
// told their servers will be stopped.
const SessionEndWarning = WalltimeWarning

// endWarning is how long before win's end its attendees are warned, and
// from when no more servers are started: SessionEndWarning, or a quarter
// of a session shorter than four times that. With the fixed ten minutes
// a session of ten minutes or less had its class never started, silently
// (the cutoff fell before the session opened).
func endWarning(win config.Window) time.Duration {
	if q := win.End.Sub(win.Start) / 4; q < SessionEndWarning {
		return q
	}
	return SessionEndWarning
}

// timeline decides a tick: with lead time on, every attendee (the first
// max_attendees by name) without a job for the open session and without
// an active server gets one, once per session, from the lead time before
// it; each job of the session is warned endWarning before its end
// (warned holds the job names already warned) and stopped at it. active
// names the attendees whose server is active now.
func timeline(w *config.Workshop, now time.Time, attendees []string, jobs []*WorkshopJob, active, warned map[string]bool) []tlAction {
	var out []tlAction
	windows := w.Windows()
	byIndex := map[int]config.Window{}
	for _, win := range windows {
		byIndex[win.Index] = win
	}
	for _, j := range jobs {
		win, ok := byIndex[j.Session]
		if !ok || !j.Ended.IsZero() {
			continue
		}
		switch {
		case !now.Before(win.End):
			out = append(out, tlAction{Kind: tlStop, User: j.User, Session: j.Session, Job: j})
		case !now.Before(win.End.Add(-endWarning(win))) && !warned[j.JobName]:
			out = append(out, tlAction{Kind: tlWarn, User: j.User, Session: j.Session, Job: j})
		}
	}
	ph := PhaseAt(w, now)
	if !ph.Open || w.LeadTime == 0 || !now.Before(ph.Session.End.Add(-endWarning(*ph.Session))) {
		return out
	}
	had := map[string]bool{}
	for _, j := range jobs {
		if j.Session == ph.Session.Index {
			had[j.User] = true
		}
	}
	names := append([]string(nil), attendees...)
	sort.Strings(names)
	if n := w.Limits.MaxAttendees; n > 0 && len(names) > n {
		names = names[:n]
	}
	for _, u := range names {
		if !had[u] && !active[u] {
			out = append(out, tlAction{Kind: tlStart, User: u, Session: ph.Session.Index})
		}
	}
	return out
}

// AttendeeUsage is one attendee's line of a workshop's usage report.
type AttendeeUsage struct {
	User      string        `json:"user"`
	Sessions  int           `json:"sessions"` // sessions in which a server of theirs ran
	Jobs      int           `json:"jobs"`
	Queued    time.Duration `json:"-"`
	Running   time.Duration `json:"-"`
	CoreHours float64       `json:"core_hours"`
	// For JSON: seconds.
	QueuedSeconds  int64 `json:"queued_seconds"`
	RunningSeconds int64 `json:"running_seconds"`
}

// usage sums jobs per attendee at now; every name in roster has a line,
// with zeros when they never ran anything. Lines are sorted by name.
func usage(roster []string, jobs []*WorkshopJob, now time.Time) []AttendeeUsage {
	by := map[string]*AttendeeUsage{}
	line := func(u string) *AttendeeUsage {
		if by[u] == nil {
			by[u] = &AttendeeUsage{User: u}
		}
		return by[u]
	}
	for _, u := range roster {
		line(u)
	}
	sessions := map[string]map[int]bool{}
	for _, j := range jobs {
		l := line(j.User)
		l.Jobs++
		end := j.Ended
		if end.IsZero() {
			end = now
		}
		if !j.Submitted.IsZero() {
			qEnd := end
			if !j.Started.IsZero() {
				qEnd = j.Started
			}
			if qEnd.After(j.Submitted) {
				l.Queued += qEnd.Sub(j.Submitted)
			}
		}
		if !j.Started.IsZero() && end.After(j.Started) {
			run := end.Sub(j.Started)
			l.Running += run
			l.CoreHours += float64(j.Cores) * run.Hours()
			if sessions[j.User] == nil {
				sessions[j.User] = map[int]bool{}
			}
			sessions[j.User][j.Session] = true
		}
	}
	out := make([]AttendeeUsage, 0, len(by))
	for u, l := range by {
		l.Sessions = len(sessions[u])
		l.QueuedSeconds, l.RunningSeconds = int64(l.Queued/time.Second), int64(l.Running/time.Second)
		out = append(out, *l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out
}
