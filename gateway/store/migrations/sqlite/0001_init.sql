-- hpcgate's first schema, SQLite flavour (the PostgreSQL file beside it
-- has the same tables and columns). Timestamps are TEXT written by the
-- store in one fixed-width UTC format, so comparing them as strings
-- compares times; NULL means "never". JSON columns are TEXT. Allowed
-- values (server states, token kinds) are checked in Go so a new one needs
-- no table rebuild.

CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    admin         INTEGER NOT NULL DEFAULT 0,
    user_groups   TEXT NOT NULL DEFAULT '[]',
    created_at    TEXT NOT NULL,
    last_login    TEXT,
    last_activity TEXT
);

-- One row per user and server name ('' is the default server), reused by
-- each spawn; the events table keeps the history. AUTOINCREMENT so that an
-- id, which tokens refer to, is never handed out twice.
CREATE TABLE servers (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    username         TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    name             TEXT NOT NULL DEFAULT '',
    cluster          TEXT NOT NULL DEFAULT '',
    profile          TEXT NOT NULL DEFAULT '',
    options          TEXT NOT NULL DEFAULT '{}',
    state            TEXT NOT NULL,
    job_id           TEXT NOT NULL DEFAULT '',
    job_name         TEXT NOT NULL UNIQUE,
    host             TEXT NOT NULL DEFAULT '',
    port             INTEGER NOT NULL DEFAULT 0,
    node             TEXT NOT NULL DEFAULT '',
    sched_state      TEXT NOT NULL DEFAULT '',
    reason           TEXT NOT NULL DEFAULT '',
    exit_code        INTEGER,
    estimated_start  TEXT,
    walltime_seconds INTEGER NOT NULL DEFAULT 0,
    submitted_at     TEXT,
    started_at       TEXT,
    ready_at         TEXT,
    stopped_at       TEXT,
    last_activity    TEXT,
    token_id         INTEGER REFERENCES api_tokens (id) ON DELETE SET NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (username, name)
);
CREATE INDEX servers_state ON servers (state);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT,
    last_seen  TEXT
);
CREATE INDEX sessions_username ON sessions (username);

-- Only the sha256 of a token is kept; prefix (its first 4 characters) is
-- for telling tokens apart on the token page. An OAuth token dies with the
-- login session it was issued under.
CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    username   TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    hash       TEXT NOT NULL UNIQUE,
    prefix     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    note       TEXT NOT NULL DEFAULT '',
    scopes     TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    expires_at TEXT,
    last_used  TEXT,
    server_id  INTEGER REFERENCES servers (id) ON DELETE CASCADE,
    session_id TEXT REFERENCES sessions (id) ON DELETE CASCADE
);
CREATE INDEX api_tokens_username ON api_tokens (username);
CREATE INDEX api_tokens_server_id ON api_tokens (server_id);
CREATE INDEX api_tokens_session_id ON api_tokens (session_id);

CREATE TABLE oauth_codes (
    code_hash    TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL,
    username     TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    scopes       TEXT NOT NULL DEFAULT '[]',
    session_id   TEXT REFERENCES sessions (id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);

-- History outlives users and servers, so no foreign keys here.
CREATE TABLE events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    time     TEXT NOT NULL,
    username TEXT NOT NULL DEFAULT '',
    server   TEXT NOT NULL DEFAULT '',
    cluster  TEXT NOT NULL DEFAULT '',
    job_id   TEXT NOT NULL DEFAULT '',
    kind     TEXT NOT NULL,
    message  TEXT NOT NULL DEFAULT '',
    data     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_username_time ON events (username, time);
CREATE INDEX events_time ON events (time);
