-- tokctl: compatible
-- Spend per budget scope and hour, kept by the database in the same transaction as every
-- ledger insert, so a budget's window is rebuilt from a few rows per hour instead of the
-- window's entries (#34). Additive: a new table, function and trigger; a binary that predates
-- them keeps inserting, and its rows are counted too. scope: 1 API key, 2 user, 3 team.
-- One statement-level trigger per insert (a COPY or an INSERT of a whole batch) adds the
-- batch's sums; rows skipped by ON CONFLICT are not in its transition table. shard spreads
-- concurrent writer connections over rows (backend pid mod 16), so parallel batches for the
-- same key do not queue on one row lock until each other's commit.
CREATE TABLE spend_rollups (
    scope      SMALLINT NOT NULL,
    scope_id   BIGINT   NOT NULL,
    hour_us    BIGINT   NOT NULL,
    shard      SMALLINT NOT NULL DEFAULT 0,
    cost_nano  BIGINT   NOT NULL,
    requests   BIGINT   NOT NULL,
    PRIMARY KEY (scope, scope_id, hour_us, shard)
);
CREATE FUNCTION tokctl_spend_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO spend_rollups AS r (scope, scope_id, hour_us, shard, cost_nano, requests)
    SELECT s.scope, s.id, n.created_at_us / 3600000000 * 3600000000,
           (pg_backend_pid() % 16)::smallint, sum(n.cost_nano), count(*)
    FROM new_rows n
    CROSS JOIN LATERAL (VALUES (1::smallint, n.api_key_id), (2::smallint, n.user_id),
                               (3::smallint, n.team_id)) AS s(scope, id)
    WHERE s.id IS NOT NULL
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (scope, scope_id, hour_us, shard) DO UPDATE
    SET cost_nano = r.cost_nano + EXCLUDED.cost_nano, requests = r.requests + EXCLUDED.requests;
    RETURN NULL;
END
$$;
CREATE TRIGGER spend_rollup AFTER INSERT ON usage_entries
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION tokctl_spend_rollup();
-- The entries stored before this version, once (the trigger's lock keeps inserts out until
-- this transaction commits, so none is missed or counted twice).
INSERT INTO spend_rollups (scope, scope_id, hour_us, shard, cost_nano, requests)
SELECT s.scope, s.id, e.created_at_us / 3600000000 * 3600000000, 0, sum(e.cost_nano), count(*)
FROM usage_entries e
CROSS JOIN LATERAL (VALUES (1::smallint, e.api_key_id), (2::smallint, e.user_id),
                           (3::smallint, e.team_id)) AS s(scope, id)
WHERE s.id IS NOT NULL
GROUP BY 1, 2, 3;
