-- The servers the hub started for workshops' sessions: what the usage
-- report sums and the workshop timeline stops at a session's end.
CREATE TABLE workshop_jobs (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workshop     TEXT NOT NULL,
    session      INTEGER NOT NULL,
    username     TEXT NOT NULL,
    job_name     TEXT NOT NULL UNIQUE,
    job_id       TEXT NOT NULL DEFAULT '',
    cores        INTEGER NOT NULL,
    submitted_at TIMESTAMPTZ,
    started_at   TIMESTAMPTZ,
    ended_at     TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX workshop_jobs_workshop ON workshop_jobs (workshop, id);
