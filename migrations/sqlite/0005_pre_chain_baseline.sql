-- The baseline of each chain: how many rows stood outside every chain when it was first seen
-- by a gateway, and the highest id among them, MAC'd with the chain's key (docs/ledger.md,
-- "Rows outside every chain"). `ledger verify` reports rows outside every chain beyond it as
-- inserted, whatever their created_at_us says. Chains that exist when this migration runs get
-- their baseline at their gateway's next start, which holds the key this SQL does not.
ALTER TABLE ledger_chains ADD COLUMN baseline_rows BIGINT;
ALTER TABLE ledger_chains ADD COLUMN baseline_max_id BIGINT;
ALTER TABLE ledger_chains ADD COLUMN baseline_mac BLOB;
