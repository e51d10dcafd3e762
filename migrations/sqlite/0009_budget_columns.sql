-- tokctl: compatible
-- Spend budgets (#34) on keys, users and teams, all additive: nullable columns, so a binary that
-- predates them keeps reading and writing the three tables (it never sets a budget, and what it
-- creates has none). budget_nano: the most that may be spent per window, in nano-units of the
-- ledger's currency; budget_window: `daily`, `weekly`, `monthly` or a duration (`30d`, `12h`),
-- normalised when written; budget_soft_percent: 1-100, the soft threshold; budget_anchor_us: when
-- the limit or window was last set, where a duration window's periods start. NULL budget_nano:
-- no budget at that level (docs/teams.md, "Setting budgets").
ALTER TABLE api_keys ADD COLUMN budget_nano INTEGER;
ALTER TABLE api_keys ADD COLUMN budget_window TEXT;
ALTER TABLE api_keys ADD COLUMN budget_soft_percent INTEGER;
ALTER TABLE api_keys ADD COLUMN budget_anchor_us INTEGER;
ALTER TABLE users ADD COLUMN budget_nano INTEGER;
ALTER TABLE users ADD COLUMN budget_window TEXT;
ALTER TABLE users ADD COLUMN budget_soft_percent INTEGER;
ALTER TABLE users ADD COLUMN budget_anchor_us INTEGER;
ALTER TABLE teams ADD COLUMN budget_nano INTEGER;
ALTER TABLE teams ADD COLUMN budget_window TEXT;
ALTER TABLE teams ADD COLUMN budget_soft_percent INTEGER;
ALTER TABLE teams ADD COLUMN budget_anchor_us INTEGER;
