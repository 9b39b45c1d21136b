-- The REST API lists users in the order they were created (as JupyterHub
-- does), one page at a time: the index lets a page be read without
-- sorting the whole table.
CREATE INDEX users_created ON users (created_at, name);
