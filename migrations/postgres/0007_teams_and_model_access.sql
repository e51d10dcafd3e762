-- tokctl: compatible
-- Teams (#34) and model allow-lists, all additive: a new table and nullable columns, so a binary
-- that predates them keeps reading and writing users and keys (it never sets a team or a list,
-- and a user it creates has neither). `models` holds comma-separated globs (`claude-*,gpt-4o`);
-- NULL means no restriction at that level (docs/teams.md).
CREATE TABLE teams (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    models        TEXT,
    created_at_us BIGINT  NOT NULL
);
ALTER TABLE users ADD COLUMN team_id BIGINT REFERENCES teams(id);
ALTER TABLE users ADD COLUMN models TEXT;
ALTER TABLE api_keys ADD COLUMN models TEXT;
CREATE INDEX users_team ON users (team_id);
