package store

import (
	"context"
	"fmt"

	"hpcgate/gateway"
)

var _ gateway.WorkshopStore = (*Store)(nil)

type workshopJobRow struct {
	ID        int64  `db:"id"`
	Workshop  string `db:"workshop"`
	Session   int    `db:"session"`
	User      string `db:"username"`
	JobName   string `db:"job_name"`
	JobID     string `db:"job_id"`
	Cores     int    `db:"cores"`
	Submitted tstamp `db:"submitted_at"`
	Started   tstamp `db:"started_at"`
	Ended     tstamp `db:"ended_at"`
	Created   tstamp `db:"created_at"`
}

// AddWorkshopJob records a server started for a workshop's session.
func (s *Store) AddWorkshopJob(ctx context.Context, j gateway.WorkshopJob) (int64, error) {
	if j.Created.IsZero() {
		j.Created = s.now()
	}
	var id int64
	err := s.db.GetContext(ctx, &id, s.q(`INSERT INTO workshop_jobs
		(workshop, session, username, job_name, job_id, cores, submitted_at, started_at, ended_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		j.Workshop, j.Session, j.User, j.JobName, j.JobID, j.Cores, ts(j.Submitted), ts(j.Started), ts(j.Ended), ts(j.Created))
	if err != nil {
		return 0, fmt.Errorf("record workshop %s job %s of %s: %w", j.Workshop, j.JobName, j.User, err)
	}
	return id, nil
}

// ListWorkshopJobs lists the workshop's jobs, oldest first.
func (s *Store) ListWorkshopJobs(ctx context.Context, workshop string) ([]*gateway.WorkshopJob, error) {
	var rows []workshopJobRow
	if err := s.rdb.SelectContext(ctx, &rows, s.q(`SELECT id, workshop, session, username, job_name, job_id, cores,
		submitted_at, started_at, ended_at, created_at FROM workshop_jobs WHERE workshop = ? ORDER BY id`), workshop); err != nil {
		return nil, fmt.Errorf("list jobs of workshop %s: %w", workshop, err)
	}
	out := make([]*gateway.WorkshopJob, len(rows))
	for i, r := range rows {
		out[i] = &gateway.WorkshopJob{ID: r.ID, Workshop: r.Workshop, Session: r.Session, User: r.User, JobName: r.JobName,
			JobID: r.JobID, Cores: r.Cores, Submitted: r.Submitted.Time(), Started: r.Started.Time(), Ended: r.Ended.Time(),
			Created: r.Created.Time()}
	}
	return out, nil
}

// UpdateWorkshopJob records the job id and times of j (by its id).
func (s *Store) UpdateWorkshopJob(ctx context.Context, j gateway.WorkshopJob) error {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE workshop_jobs SET job_id = ?, submitted_at = ?, started_at = ?, ended_at = ?
		WHERE id = ?`), j.JobID, ts(j.Submitted), ts(j.Started), ts(j.Ended), j.ID)
	if err != nil {
		return fmt.Errorf("update workshop job %s: %w", j.JobName, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update workshop job %s: %w", j.JobName, gateway.ErrNotFound)
	}
	return nil
}
