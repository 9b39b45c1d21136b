-- Hub groups and the hub's own admin grant (the REST API's groups and
-- user management). hub_admin is an admin's grant through the API: a
-- login or rights refresh sets only admin (the directory's verdict), so
-- it never takes the grant back. Directory (LDAP) groups stay in
-- users.user_groups; only groups the hub manages live here.
ALTER TABLE users ADD COLUMN hub_admin BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE hub_groups (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE hub_group_members (
    group_name TEXT NOT NULL REFERENCES hub_groups (name) ON DELETE CASCADE,
    username   TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    PRIMARY KEY (group_name, username)
);
CREATE INDEX hub_group_members_username ON hub_group_members (username);
