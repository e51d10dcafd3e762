-- tokctl: compatible
-- Spend per budget scope and hour, added in the same transaction as every ledger batch, so a
-- budget's window is rebuilt from a few rows per hour instead of the window's entries (#34).
-- Additive: a new table. scope: 1 API key, 2 user, 3 team. On SQLite the writer adds a
-- batch's sums itself, from the rows the batch really inserted (ledger::store): row triggers,
-- three upserts per entry, halved the writer's rate. shard is always 0: SQLite has one writer.
CREATE TABLE spend_rollups (
    scope      INTEGER NOT NULL,
    scope_id   INTEGER NOT NULL,
    hour_us    INTEGER NOT NULL,
    shard      INTEGER NOT NULL DEFAULT 0,
    cost_nano  INTEGER NOT NULL,
    requests   INTEGER NOT NULL,
    PRIMARY KEY (scope, scope_id, hour_us, shard)
) WITHOUT ROWID;
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
