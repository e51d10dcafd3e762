-- tokctl: compatible
-- Spend per budget scope and hour, kept by the database in the same transaction as every
-- ledger insert, so a budget's window is rebuilt from a few rows per hour instead of the
-- window's entries (#34). Additive: a new table and triggers; a binary that predates them
-- keeps inserting, and its rows are counted too. scope: 1 API key, 2 user, 3 team.
-- Triggers fire only for rows really inserted (a replayed duplicate skipped by ON CONFLICT
-- counts nothing). shard is always 0 here: SQLite has one writer.
CREATE TABLE spend_rollups (
    scope      INTEGER NOT NULL,
    scope_id   INTEGER NOT NULL,
    hour_us    INTEGER NOT NULL,
    shard      INTEGER NOT NULL DEFAULT 0,
    cost_nano  INTEGER NOT NULL,
    requests   INTEGER NOT NULL,
    PRIMARY KEY (scope, scope_id, hour_us, shard)
) WITHOUT ROWID;
CREATE TRIGGER spend_rollup_key AFTER INSERT ON usage_entries
WHEN NEW.api_key_id IS NOT NULL
BEGIN
    INSERT INTO spend_rollups (scope, scope_id, hour_us, shard, cost_nano, requests)
    VALUES (1, NEW.api_key_id, NEW.created_at_us / 3600000000 * 3600000000, 0, NEW.cost_nano, 1)
    ON CONFLICT (scope, scope_id, hour_us, shard) DO UPDATE
    SET cost_nano = cost_nano + excluded.cost_nano, requests = requests + 1;
END;
CREATE TRIGGER spend_rollup_user AFTER INSERT ON usage_entries
WHEN NEW.user_id IS NOT NULL
BEGIN
    INSERT INTO spend_rollups (scope, scope_id, hour_us, shard, cost_nano, requests)
    VALUES (2, NEW.user_id, NEW.created_at_us / 3600000000 * 3600000000, 0, NEW.cost_nano, 1)
    ON CONFLICT (scope, scope_id, hour_us, shard) DO UPDATE
    SET cost_nano = cost_nano + excluded.cost_nano, requests = requests + 1;
END;
CREATE TRIGGER spend_rollup_team AFTER INSERT ON usage_entries
WHEN NEW.team_id IS NOT NULL
BEGIN
    INSERT INTO spend_rollups (scope, scope_id, hour_us, shard, cost_nano, requests)
    VALUES (3, NEW.team_id, NEW.created_at_us / 3600000000 * 3600000000, 0, NEW.cost_nano, 1)
    ON CONFLICT (scope, scope_id, hour_us, shard) DO UPDATE
    SET cost_nano = cost_nano + excluded.cost_nano, requests = requests + 1;
END;
-- The entries stored before this version, once.
INSERT INTO spend_rollups (scope, scope_id, hour_us, shard, cost_nano, requests)
SELECT scope, scope_id, hour_us, 0, sum(cost_nano), count(*) FROM (
    SELECT 1 AS scope, api_key_id AS scope_id, created_at_us / 3600000000 * 3600000000 AS hour_us,
           cost_nano FROM usage_entries WHERE api_key_id IS NOT NULL
    UNION ALL
    SELECT 2, user_id, created_at_us / 3600000000 * 3600000000, cost_nano
    FROM usage_entries WHERE user_id IS NOT NULL
    UNION ALL
    SELECT 3, team_id, created_at_us / 3600000000 * 3600000000, cost_nano
    FROM usage_entries WHERE team_id IS NOT NULL
) GROUP BY scope, scope_id, hour_us;
