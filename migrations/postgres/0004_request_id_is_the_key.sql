-- The ledger's key is `request_id`: unique, never NULL, made by the gateway, and what every
-- insert is idempotent on. The surrogate `id` kept a B-tree of its own as the primary key,
-- which only full exports read (for their order); every entry paid for it, about a fifth of the
-- server's insert work (docs/benchmarks.md, "PostgreSQL: request_id is the key"). Exports now
-- come out in time order through the time index, so `id` keeps its values (from its sequence,
-- unique) and loses its index. `request_id`'s unique index identifies rows for logical
-- replication, which otherwise would want a primary key.
ALTER TABLE usage_entries DROP CONSTRAINT IF EXISTS usage_entries_pkey;
ALTER TABLE usage_entries REPLICA IDENTITY USING INDEX usage_entries_request_id_key;
