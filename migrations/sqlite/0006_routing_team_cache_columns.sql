-- tokctl: compatible
-- Message v2 of the hash chain and this wave's ledger columns, all additive: nullable, or NOT
-- NULL with a default, so a binary that predates them keeps inserting its rows (which take the
-- defaults) and reading them. docs/ledger.md describes each column and docs/operations.md the
-- rolling upgrade this makes possible.
ALTER TABLE usage_entries ADD COLUMN chain_version INTEGER;
ALTER TABLE usage_entries ADD COLUMN upstream_api TEXT;
ALTER TABLE usage_entries ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE usage_entries ADD COLUMN failed_attempts TEXT;
ALTER TABLE usage_entries ADD COLUMN requested_model TEXT;
ALTER TABLE usage_entries ADD COLUMN team_id INTEGER;
ALTER TABLE usage_entries ADD COLUMN cache TEXT NOT NULL DEFAULT 'none';
ALTER TABLE usage_entries ADD COLUMN saved_cost_nano INTEGER NOT NULL DEFAULT 0;
