package gateway

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"hpcgate/batch"
	"hpcgate/gateway/config"
)

const workshopSite = `
ldap: {url: ldap://ldap.example.org, user_base_dn: "ou=people,dc=example,dc=org"}
clusters:
  - name: local
    scheduler: slurm
    login: {host: 127.0.0.1, known_hosts: /k, user_ca_key: /ca}
    profiles:
      - {name: small, cores: {min: 1, max: 4, default: 2}, walltime: {min: 10m, max: 4h, default: 1h}}
      - {name: fixed, walltime: {value: 2h}, allowed_groups: ["cn=staff,dc=example,dc=org"]}
  - name: lab
    scheduler: pbs
    login: {host: 127.0.0.1, known_hosts: /k, user_ca_key: /ca}
    profiles: [{name: lab, partition: {value: workq}}]
workshops:
  - name: course
    attendee_group: cn=students,dc=example,dc=org
    instructor_group: cn=teachers,dc=example,dc=org
    profiles: [small, fixed]
    reservation: course-res
    time_zone: Europe/Brussels
    lead_time: 10m
    sessions:
      - {start: "2026-03-10 09:00", end: "2026-03-10 12:00"}
      - {start: "2026-03-11 09:00", end: "2026-03-11 12:00"}
    materials: {copy: /shared/course, git: "https://git.example.org/c.git", git_ref: v1, into: my-course}
    limits: {cores_per_attendee: 2, max_attendees: 2}
  - name: labcourse
    attendee_group: cn=students,dc=example,dc=org
    instructor_group: cn=teachers,dc=example,dc=org
    cluster: lab
    profiles: [lab]
    reservation: R42
    sessions: [{start: "2026-03-12 09:00", end: "2026-03-12 12:00"}]
`

func workshopConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse("site.yaml", []byte(workshopSite), batch.Kind{Name: "slurm"}, batch.Kind{Name: "pbs"})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestPhaseAt(t *testing.T) {
	w, _ := workshopConfig(t).Workshop("course")
	bx := w.Location()
	at := func(d, h, m int) time.Time { return time.Date(2026, 3, d, h, m, 0, 0, bx) }
	tests := []struct {
		now     time.Time
		open    bool
		session int // -1: none
	}{
		{at(9, 12, 0), false, 0},
		{at(10, 8, 49), false, 0},
		{at(10, 8, 50), true, 0}, // the lead time
		{at(10, 11, 59), true, 0},
		{at(10, 12, 0), false, 1},
		{at(11, 10, 0), true, 1},
		{at(11, 12, 0), false, -1},
	}
	for _, tc := range tests {
		ph := PhaseAt(w, tc.now)
		got := -1
		if ph.Session != nil {
			got = ph.Session.Index
		}
		if ph.Open != tc.open || got != tc.session {
			t.Errorf("at %s: open %v session %d, want %v %d", tc.now, ph.Open, got, tc.open, tc.session)
		}
	}
}

func TestPlanWorkshop(t *testing.T) {
	cfg := workshopConfig(t)
	students := []string{"CN=Students, DC=example,DC=org"}
	now := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC) // 09:00 in Brussels
	end := now.Add(3 * time.Hour)
	plan, err := PlanSpawn(cfg, SpawnRequest{User: "ann", Groups: students, Workshop: "course", Now: now, SessionEnd: end})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Cluster.Name != "local" || plan.Profile.Name != "small" || plan.Workshop == nil ||
		plan.Resources.Walltime != 3*time.Hour || plan.Resources.Cores != 2 ||
		!reflect.DeepEqual(plan.Resources.Extra, []string{"--reservation=course-res"}) {
		t.Errorf("plan = %+v %+v", plan.Cluster.Name, plan.Resources)
	}
	// The walltime is whole minutes up to (not short of) the session's end.
	plan, err = PlanSpawn(cfg, SpawnRequest{User: "ann", Groups: students, Workshop: "course", Now: now.Add(-20 * time.Second), SessionEnd: now.Add(20 * time.Minute)})
	if err != nil || plan.Resources.Walltime != 21*time.Minute {
		t.Errorf("walltime 20m20s before the end: %v, %+v", err, plan.Resources)
	}
	// A session longer than the profile allows: the profile's default.
	plan, err = PlanSpawn(cfg, SpawnRequest{User: "ann", Groups: students, Workshop: "course", Now: now, SessionEnd: now.Add(9 * time.Hour)})
	if err != nil || plan.Resources.Walltime != time.Hour {
		t.Errorf("long session: %v, %+v", err, plan)
	}
	// The workshop's group opens a profile restricted to staff.
	plan, err = PlanSpawn(cfg, SpawnRequest{User: "ann", Groups: students, Workshop: "course", Profile: "fixed", Now: now, SessionEnd: end})
	if err != nil || plan.Resources.Walltime != 2*time.Hour {
		t.Errorf("fixed profile: %v, %+v", err, plan)
	}
	// PBS: the reservation is the queue.
	plan, err = PlanSpawn(cfg, SpawnRequest{User: "ann", Groups: students, Workshop: "labcourse"})
	if err != nil || plan.Resources.Partition != "R42" || len(plan.Resources.Extra) != 0 {
		t.Errorf("pbs: %v, %+v", err, plan)
	}
	refusals := []struct {
		req  SpawnRequest
		code string
		msg  string
	}{
		{SpawnRequest{User: "eve", Groups: []string{"cn=others,dc=example,dc=org"}, Workshop: "course"}, EFORBIDDEN, "eve is not an attendee of the workshop"},
		{SpawnRequest{User: "ann", Groups: students, Workshop: "course", Profile: "lab"}, EINVALID, `"lab" is not offered by the workshop (choose small or fixed)`},
		{SpawnRequest{User: "ann", Groups: students, Workshop: "course", Options: map[string]string{"cores": "4"}}, EINVALID, "4 is above the workshop's 2 cores per attendee"},
		{SpawnRequest{User: "ann", Groups: students, Workshop: "nope"}, ENOTFOUND, `no workshop "nope"`},
	}
	for _, r := range refusals {
		_, err := PlanSpawn(cfg, r.req)
		var e *Error
		if !errors.As(err, &e) || e.Code != r.code || !strings.Contains(e.Message, r.msg) {
			t.Errorf("%+v: %v, want %s %q", r.req, err, r.code, r.msg)
		}
	}
}

func TestMaterialsSetup(t *testing.T) {
	w, _ := workshopConfig(t).Workshop("course")
	got := MaterialsSetup(w)
	want := []string{
		`if [ ! -e my-course ]; then git clone --quiet --branch v1 -- https://git.example.org/c.git my-course || echo "hpcgate: workshop materials: git clone failed" >&2; fi`,
		`if [ -d /shared/course ]; then mkdir -p -- my-course && cp -Rn -- /shared/course/. my-course/ || echo "hpcgate: workshop materials: copy failed" >&2; fi`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("setup =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	none, _ := workshopConfig(t).Workshop("labcourse")
	if MaterialsSetup(none) != nil {
		t.Error("a workshop without materials has setup lines")
	}
}

func TestTimeline(t *testing.T) {
	w, _ := workshopConfig(t).Workshop("course")
	bx := w.Location()
	at := func(d, h, m int) time.Time { return time.Date(2026, 3, d, h, m, 0, 0, bx) }
	job := func(user string, session int, ended bool) *WorkshopJob {
		j := &WorkshopJob{User: user, Session: session, JobName: "job-" + user}
		if ended {
			j.Ended = at(10, 10, 0)
		}
		return j
	}
	roster := []string{"cat", "ann", "bob"} // max_attendees 2: ann and bob
	tests := []struct {
		name   string
		now    time.Time
		jobs   []*WorkshopJob
		active map[string]bool
		warned map[string]bool
		want   []string
	}{
		{"before the lead time", at(10, 8, 49), nil, nil, nil, nil},
		{"lead time: the first two by name", at(10, 8, 50), nil, nil, nil, []string{"start ann 0", "start bob 0"}},
		{"one already has a job", at(10, 9, 0), []*WorkshopJob{job("ann", 0, false)}, nil, nil, []string{"start bob 0"}},
		{"a stopped job is not restarted", at(10, 9, 0), []*WorkshopJob{job("ann", 0, true)}, nil, nil, []string{"start bob 0"}},
		{"an active server of their own", at(10, 9, 0), nil, map[string]bool{"bob": true}, nil, []string{"start ann 0"}},
		{"warning before the end", at(10, 11, 50), []*WorkshopJob{job("ann", 0, false), job("bob", 0, false)}, nil,
			map[string]bool{"job-bob": true}, []string{"warn ann 0"}},
		{"no start in the last minutes", at(10, 11, 55), nil, nil, nil, nil},
		{"stop at the end", at(10, 12, 0), []*WorkshopJob{job("ann", 0, false), job("bob", 0, true)}, nil, nil, []string{"stop ann 0"}},
		{"next session", at(11, 8, 55), []*WorkshopJob{job("ann", 0, true)}, nil, nil, []string{"start ann 1", "start bob 1"}},
	}
	for _, tc := range tests {
		var got []string
		for _, a := range timeline(w, tc.now, roster, tc.jobs, tc.active, tc.warned) {
			got = append(got, a.Kind+" "+a.User+" "+string(rune('0'+a.Session)))
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// A session shorter than the end warning still gets its class
	// started, and warned a quarter of it before the end.
	w.Sessions = []config.Session{{Start: "2026-03-10 09:00", End: "2026-03-10 09:08"}}
	if ps := w.Validate(workshopConfig(t)); len(ps) != 0 {
		t.Fatal(ps)
	}
	short := []struct {
		name string
		now  time.Time
		jobs []*WorkshopJob
		want []string
	}{
		{"short session: lead time", at(10, 8, 55), nil, []string{"start ann 0", "start bob 0"}},
		{"short session: no warning yet", time.Date(2026, 3, 10, 9, 5, 59, 0, bx), []*WorkshopJob{job("ann", 0, false)}, []string{"start bob 0"}},
		{"short session: warning, no start", at(10, 9, 6), []*WorkshopJob{job("ann", 0, false)}, []string{"warn ann 0"}},
	}
	for _, tc := range short {
		var got []string
		for _, a := range timeline(w, tc.now, roster, tc.jobs, nil, nil) {
			got = append(got, a.Kind+" "+a.User+" "+string(rune('0'+a.Session)))
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestUsage(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	jobs := []*WorkshopJob{
		{User: "ann", Session: 0, Cores: 2, Submitted: t0, Started: t0.Add(5 * time.Minute), Ended: t0.Add(65 * time.Minute)},
		{User: "ann", Session: 1, Cores: 2, Submitted: t0.Add(24 * time.Hour), Started: t0.Add(24*time.Hour + time.Minute)}, // running
		{User: "bob", Session: 0, Cores: 1, Submitted: t0, Ended: t0.Add(30 * time.Minute)},                                 // never ran
	}
	now := t0.Add(25*time.Hour + time.Minute)
	got := usage([]string{"bob", "cat", "ann"}, jobs, now)
	want := []AttendeeUsage{
		{User: "ann", Sessions: 2, Jobs: 2, Queued: 6 * time.Minute, Running: 2 * time.Hour, CoreHours: 4, QueuedSeconds: 360, RunningSeconds: 7200},
		{User: "bob", Sessions: 0, Jobs: 1, Queued: 30 * time.Minute, QueuedSeconds: 1800},
		{User: "cat"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("usage =\n%+v\nwant\n%+v", got, want)
	}
}
