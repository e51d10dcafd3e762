-- The ledger is written on every request and read by batch jobs (export, summary), which
-- select by time range first. Two indexes cost the writer more than they saved those jobs:
-- every entry paid for a B-tree insert into each, about a third of SQLite's insert rate
-- (docs/benchmarks.md, "Leaner ledger indexes"). Filters by user or model now narrow the
-- rows of the time range they ask for; docs/ledger.md says how to add an index back for
-- deployments that read one user's or one model's whole history often.
DROP INDEX IF EXISTS usage_entries_user_time;
DROP INDEX IF EXISTS usage_entries_model_time;
