-- PostgreSQL's 0004 drops the index of the surrogate `id`. SQLite's `id` is the table's rowid,
-- which costs nothing to keep, so there is nothing to change here; the migration exists so that
-- both backends carry the same versions (`tokctl migrate status` reads alike on both).
SELECT 1;
