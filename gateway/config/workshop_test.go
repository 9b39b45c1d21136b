package config

import (
	"testing"
	"time"
)

// TestWorkshopExample checks the course of site-configs/workshop.yaml as
// the hub will use it: two sessions in Brussels time, the defaults filled.
func TestWorkshopExample(t *testing.T) {
	cfg, err := Load("../../site-configs/workshop.yaml", testKinds...)
	if err != nil {
		t.Fatal(err)
	}
	w, ok := cfg.Workshop("python-2025")
	if !ok {
		t.Fatal("no workshop python-2025")
	}
	brussels, err := time.LoadLocation("Europe/Brussels")
	if err != nil {
		t.Fatal(err)
	}
	want := []Window{
		{0, time.Date(2025, 11, 18, 9, 0, 0, 0, brussels), time.Date(2025, 11, 18, 12, 30, 0, 0, brussels)},
		{1, time.Date(2025, 11, 19, 9, 0, 0, 0, brussels), time.Date(2025, 11, 19, 12, 30, 0, 0, brussels)},
	}
	got := w.Windows()
	if len(got) != len(want) {
		t.Fatalf("windows = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].Index != want[i].Index || !got[i].Start.Equal(want[i].Start) || !got[i].End.Equal(want[i].End) {
			t.Errorf("window %d = %v, want %v", i, got[i], want[i])
		}
	}
	// 09:00 in Brussels in November is 08:00 UTC.
	if h := got[0].Start.UTC().Hour(); h != 8 {
		t.Errorf("first session starts at %d:00 UTC, want 8:00", h)
	}
	if w.Cluster != "teaching" || w.Reservation != "workshop-2025" || w.LeadTime.D() != 15*time.Minute || w.Materials.Into != "python-2025" {
		t.Errorf("workshop = %+v", w)
	}
}

func TestWorkshopDefaults(t *testing.T) {
	cfg, err := Parse("site.yaml", []byte(`
ldap: {url: ldap://ldap.example.org, user_base_dn: "ou=people,dc=example,dc=org"}
clusters:
  - name: local
    scheduler: pbs
    login: {host: 127.0.0.1, known_hosts: /k, user_ca_key: /ca}
    profiles: [{name: small}]
workshops:
  - name: course
    attendee_group: cn=students,dc=example,dc=org
    instructor_group: cn=teachers,dc=example,dc=org
    profiles: [small]
    reservation: R42
    sessions: [{start: "2026-03-10 09:00", end: "2026-03-10 12:00"}]
`), testKinds...)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Workshops[0]
	if w.Title != "course" || w.Cluster != "local" || w.TimeZone != "UTC" || w.LeadTime.D() != 15*time.Minute ||
		w.Pace.D() != 2*time.Second || w.Materials.Into != "course" || w.Location() != time.UTC {
		t.Errorf("defaults = %+v", w)
	}
	if s := w.Windows()[0].Start; !s.Equal(time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("start = %v", s)
	}
}
