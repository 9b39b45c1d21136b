package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"hpcgate/gateway"
)

func testWorkshopJobs(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store(t)
	t0 := utc(e.clock.Now())
	a := gateway.WorkshopJob{Workshop: "course", Session: 0, User: "alice", JobName: "hpcgate-alice-default-1", Cores: 2}
	b := gateway.WorkshopJob{Workshop: "course", Session: 1, User: "bob", JobName: "hpcgate-bob-default-2", Cores: 1}
	other := gateway.WorkshopJob{Workshop: "other", User: "alice", JobName: "hpcgate-alice-default-3", Cores: 4}
	for _, j := range []*gateway.WorkshopJob{&a, &b, &other} {
		id, err := s.AddWorkshopJob(ctx, *j)
		if err != nil {
			t.Fatal(err)
		}
		j.ID = id
	}
	if _, err := s.AddWorkshopJob(ctx, a); err == nil {
		t.Error("a second job with the same name was recorded")
	}
	a.JobID, a.Submitted, a.Started, a.Ended = "17", t0, t0.Add(time.Minute), t0.Add(time.Hour)
	if err := s.UpdateWorkshopJob(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateWorkshopJob(ctx, gateway.WorkshopJob{ID: 999}); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("update of a missing job: %v, want ErrNotFound", err)
	}
	got, err := s.ListWorkshopJobs(ctx, "course")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].User != "alice" || got[1].User != "bob" {
		t.Fatalf("jobs of course = %+v", got)
	}
	g := got[0]
	if g.JobID != "17" || !g.Submitted.Equal(t0) || !g.Started.Equal(t0.Add(time.Minute)) || !g.Ended.Equal(t0.Add(time.Hour)) || g.Cores != 2 || g.Created.IsZero() {
		t.Errorf("alice's job = %+v", g)
	}
	if !got[1].Started.IsZero() || !got[1].Ended.IsZero() || got[1].Session != 1 {
		t.Errorf("bob's job = %+v, want no times", got[1])
	}
}
