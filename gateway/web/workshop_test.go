package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"hpcgate/gateway"
	"hpcgate/gateway/config"
)

// fakeWorkshops runs one workshop, "course": groupTeachers (bob) teaches
// it, dave attends it. The gateway's own tests cover the decisions; this
// fake lets the web layer's gates be tested.
type fakeWorkshops struct {
	mu     sync.Mutex
	visits []string // instructor>attendee
	calls  []string
}

var _ Workshops = (*fakeWorkshops)(nil)

func newFakeWorkshops() *fakeWorkshops { return &fakeWorkshops{} }

func (f *fakeWorkshops) note(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}

// WorkshopCards shows bob (whom the fake treats as attending a second,
// upcoming course too) one open card and one countdown.
func (f *fakeWorkshops) WorkshopCards(groups []string, now time.Time) []gateway.WorkshopCard {
	if !gateway.InGroup(groups, groupTeachers) {
		return nil
	}
	return []gateway.WorkshopCard{
		{Name: "course", Title: "The course", Open: true, Start: now.Add(-time.Hour), End: now.Add(time.Hour), Session: 1, Sessions: 2},
		{Name: "later", Title: "Later course", Start: now.Add(90 * time.Minute), End: now.Add(3 * time.Hour), Session: 1, Sessions: 1},
	}
}

func (f *fakeWorkshops) InstructorOf(groups []string) []string {
	if gateway.InGroup(groups, groupTeachers) {
		return []string{"course"}
	}
	return nil
}

func (f *fakeWorkshops) InstructorGrants(groups []string) []string {
	if gateway.InGroup(groups, groupTeachers) {
		return []string{"dave"}
	}
	return nil
}

func (f *fakeWorkshops) WorkshopStatus(_ context.Context, name string) (*gateway.WorkshopStatus, error) {
	if name != "course" {
		return nil, gateway.Errorf(gateway.ENOTFOUND, "there is no workshop %q", name)
	}
	w := &config.Workshop{Name: "course", Title: "The course"}
	return &gateway.WorkshopStatus{Workshop: w, Attendees: []gateway.AttendeeStatus{
		{User: "dave", Server: &gateway.ServerInfo{User: "dave", State: gateway.StateReady, Node: "node1", JobID: "7"}, WorkshopJob: true},
		{User: "erin"},
	}}, nil
}

func (f *fakeWorkshops) StartClass(_ context.Context, name, by string, missing bool) (int, error) {
	f.note("start " + name + " by " + by)
	return 1, nil
}

func (f *fakeWorkshops) StopClass(_ context.Context, name, by string) (int, error) {
	f.note("stop " + name + " by " + by)
	return 1, nil
}

func (f *fakeWorkshops) OpenAsInstructor(_ context.Context, name, instructor string, groups []string, attendee string) error {
	if !gateway.InGroup(groups, groupTeachers) || attendee != "dave" {
		return gateway.Errorf(gateway.EFORBIDDEN, "%s is not an attendee of %q", attendee, name)
	}
	f.NoteInstructorVisit(context.Background(), instructor, attendee)
	return nil
}

func (f *fakeWorkshops) NoteInstructorVisit(_ context.Context, instructor, attendee string) {
	f.mu.Lock()
	f.visits = append(f.visits, instructor+">"+attendee)
	f.mu.Unlock()
}

func (f *fakeWorkshops) InstructorVisits(_ context.Context, user string) ([]*gateway.Event, error) {
	if user != "bob" {
		return nil, nil
	}
	return []*gateway.Event{{Time: time.Unix(1e9, 0), User: "bob", Kind: "instructor-open", Message: "Instructor carol opened your server to help you."}}, nil
}

func (f *fakeWorkshops) WorkshopUsage(context.Context, string) ([]gateway.AttendeeUsage, error) {
	return []gateway.AttendeeUsage{{User: "dave", Sessions: 1, Jobs: 1, CoreHours: 1.5, QueuedSeconds: 60, RunningSeconds: 2700}}, nil
}

func (f *fakeWorkshops) SpawnWorkshop(_ context.Context, name, user string, groups []string, by, profile string) (*gateway.ServerInfo, error) {
	if user != "dave" {
		return nil, gateway.Errorf(gateway.EFORBIDDEN, "%s is not an attendee of the workshop %q", user, name)
	}
	return &gateway.ServerInfo{User: user, State: gateway.StateSubmitting}, nil
}

// TestWorkshopInstructorGrant: an instructor goes through the /user/ gate
// to an attendee's server, and only to an attendee's, and the visit is
// noted for the attendee; the instructor page and its usage report.
func TestWorkshopInstructorGrant(t *testing.T) {
	ws := newFakeWorkshops()
	e := newEnv(t, withWorkshops(ws))
	e.hub.ServeProxyFn = func(w http.ResponseWriter, r *http.Request, user, server string) {
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("proxied to " + user))
	}
	b := e.browser()
	b.login("bob", "bob-pass")

	resp, body := b.get("/user/dave/tree")
	if resp.StatusCode != http.StatusOK || body != "proxied to dave" {
		t.Errorf("bob (instructor) to dave's server: %d %q", resp.StatusCode, body)
	}
	resp, _ = b.get("/user/alice/tree")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob to alice's server (not an attendee): %d, want 403", resp.StatusCode)
	}
	if len(ws.visits) != 1 || ws.visits[0] != "bob>dave" {
		t.Errorf("visits = %v, want bob>dave once", ws.visits)
	}

	resp, body = b.get("/hub/workshops/course")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `data-user="dave"`) || !strings.Contains(body, `data-user="erin"`) ||
		!strings.Contains(body, "/hub/workshops/course/open/dave") {
		t.Errorf("instructor page: %d\n%.2000s", resp.StatusCode, body)
	}

	// "Open as instructor" records a visit the attendee sees: a form with
	// the page's XSRF token. A GET (a link, an image, a frame a script
	// added) and a form a script sends record nothing.
	ws.visits = nil
	resp, _ = b.get("/hub/workshops/course/open/dave")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/hub/workshops/course" || len(ws.visits) != 0 {
		t.Errorf("GET open/dave: %d %q, visits %v; want 303 to the workshop's page and no visit",
			resp.StatusCode, resp.Header.Get("Location"), ws.visits)
	}
	tok := b.xsrf("/hub/workshops/course")
	resp, _ = b.do("POST", "/hub/workshops/course/open/dave", strings.NewReader(url.Values{"_xsrf": {tok}}.Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {e.ts.URL}, "Sec-Fetch-Mode": {"cors"}})
	if resp.StatusCode == http.StatusSeeOther || len(ws.visits) != 0 {
		t.Errorf("open/dave sent by a script: %d, visits %v; want a refusal and no visit", resp.StatusCode, ws.visits)
	}
	resp, _ = b.post("/hub/workshops/course/open/dave", url.Values{})
	if resp.StatusCode != http.StatusForbidden || len(ws.visits) != 0 {
		t.Errorf("open/dave without _xsrf: %d, visits %v; want 403 and no visit", resp.StatusCode, ws.visits)
	}
	resp, _ = b.post("/hub/workshops/course/open/dave", url.Values{"_xsrf": {tok}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/user/dave/" || len(ws.visits) != 1 {
		t.Errorf("open/dave from the page: %d %q, visits %v; want 303 to /user/dave/ and one visit",
			resp.StatusCode, resp.Header.Get("Location"), ws.visits)
	}

	resp, body = b.get("/hub/api/workshops/course/usage?format=csv")
	want := "attendee,sessions,jobs,queued_seconds,running_seconds,core_hours\ndave,1,1,60,2700,1.500\n"
	if resp.StatusCode != http.StatusOK || body != want {
		t.Errorf("usage CSV: %d %q, want %q", resp.StatusCode, body, want)
	}
	resp, _ = b.get("/hub/workshops/nope")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown workshop: %d, want 404", resp.StatusCode)
	}

	resp, body = b.get("/hub/home")
	for _, want := range []string{`data-workshop-card="course" data-open="true"`, `action="/hub/workshops/course/spawn"`,
		`data-workshop-card="later" data-open="false"`, "in <span>1h 30m</span>", "Instructor carol opened your server", `href="/hub/workshops/course" data-teaches`} {
		if !strings.Contains(body, want) {
			t.Errorf("home lacks %q:\n%.3000s", want, body)
		}
	}
	if strings.Contains(body, `action="/hub/workshops/later/spawn"`) {
		t.Error("home offers to launch a workshop whose session is not open")
	}

	alice := e.browser()
	alice.login("alice", "alice-pass")
	if resp, _ := alice.get("/hub/workshops/course"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("alice (not an instructor) on the instructor page: %d, want 403", resp.StatusCode)
	}
	if resp, _ := alice.get("/user/dave/tree"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("alice to dave's server: %d, want 403", resp.StatusCode)
	}
}
