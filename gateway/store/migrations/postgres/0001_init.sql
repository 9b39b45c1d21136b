-- hpcgate's first schema, PostgreSQL flavour (the SQLite file beside it
-- has the same tables and columns). NULL timestamps mean "never". Allowed
-- values (server states, token kinds) are checked in Go.

CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    admin         BOOLEAN NOT NULL DEFAULT FALSE,
    user_groups   JSONB NOT NULL DEFAULT '[]',
    created_at    TIMESTAMPTZ NOT NULL,
    last_login    TIMESTAMPTZ,
    last_activity TIMESTAMPTZ
);

-- One row per user and server name ('' is the default server), reused by
-- each spawn; the events table keeps the history.
CREATE TABLE servers (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username         TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    name             TEXT NOT NULL DEFAULT '',
    cluster          TEXT NOT NULL DEFAULT '',
    profile          TEXT NOT NULL DEFAULT '',
    options          JSONB NOT NULL DEFAULT '{}',
    state            TEXT NOT NULL,
    job_id           TEXT NOT NULL DEFAULT '',
    job_name         TEXT NOT NULL UNIQUE,
    host             TEXT NOT NULL DEFAULT '',
    port             INTEGER NOT NULL DEFAULT 0,
    node             TEXT NOT NULL DEFAULT '',
    sched_state      TEXT NOT NULL DEFAULT '',
    reason           TEXT NOT NULL DEFAULT '',
    exit_code        INTEGER,
    estimated_start  TIMESTAMPTZ,
    walltime_seconds BIGINT NOT NULL DEFAULT 0,
    submitted_at     TIMESTAMPTZ,
    started_at       TIMESTAMPTZ,
    ready_at         TIMESTAMPTZ,
    stopped_at       TIMESTAMPTZ,
    last_activity    TIMESTAMPTZ,
    token_id         BIGINT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (username, name)
);
CREATE INDEX servers_state ON servers (state);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    last_seen  TIMESTAMPTZ
);
CREATE INDEX sessions_username ON sessions (username);

-- Only the sha256 of a token is kept; prefix (its first 4 characters) is
-- for telling tokens apart on the token page. An OAuth token dies with the
-- login session it was issued under.
CREATE TABLE api_tokens (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    hash       TEXT NOT NULL UNIQUE,
    prefix     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    note       TEXT NOT NULL DEFAULT '',
    scopes     JSONB NOT NULL DEFAULT '[]',
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    last_used  TIMESTAMPTZ,
    server_id  BIGINT REFERENCES servers (id) ON DELETE CASCADE,
    session_id TEXT REFERENCES sessions (id) ON DELETE CASCADE
);
CREATE INDEX api_tokens_username ON api_tokens (username);
CREATE INDEX api_tokens_server_id ON api_tokens (server_id);
CREATE INDEX api_tokens_session_id ON api_tokens (session_id);

-- servers and api_tokens refer to each other; this side is added last.
ALTER TABLE servers ADD CONSTRAINT servers_token_id_fkey
    FOREIGN KEY (token_id) REFERENCES api_tokens (id) ON DELETE SET NULL;

CREATE TABLE oauth_codes (
    code_hash    TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL,
    username     TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    scopes       JSONB NOT NULL DEFAULT '[]',
    session_id   TEXT REFERENCES sessions (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);

-- History outlives users and servers, so no foreign keys here.
CREATE TABLE events (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time     TIMESTAMPTZ NOT NULL,
    username TEXT NOT NULL DEFAULT '',
    server   TEXT NOT NULL DEFAULT '',
    cluster  TEXT NOT NULL DEFAULT '',
    job_id   TEXT NOT NULL DEFAULT '',
    kind     TEXT NOT NULL,
    message  TEXT NOT NULL DEFAULT '',
    data     JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX events_username_time ON events (username, time);
CREATE INDEX events_time ON events (time);
