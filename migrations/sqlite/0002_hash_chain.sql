-- The hash chain: one per gateway instance (instance_id). Each entry carries its sequence
-- number in its chain, the previous entry's hash and its own (docs/ledger.md gives the
-- encoding). Rows written before this migration have NULLs here and belong to no chain.
ALTER TABLE usage_entries ADD COLUMN instance_id TEXT;
ALTER TABLE usage_entries ADD COLUMN seq INTEGER;
ALTER TABLE usage_entries ADD COLUMN prev_hash BLOB;
ALTER TABLE usage_entries ADD COLUMN entry_hash BLOB;
CREATE UNIQUE INDEX usage_entries_chain ON usage_entries (instance_id, seq);

-- One row per chain: how it is hashed, and the committed watermark (every sequence number
-- at or below it is written or recorded as a gap), moved in the same transaction as each batch.
CREATE TABLE ledger_chains (
    instance_id    TEXT    PRIMARY KEY,
    keyed          BOOLEAN NOT NULL,
    key_id         TEXT,
    started_at_us  INTEGER NOT NULL,
    watermark_seq  INTEGER NOT NULL DEFAULT 0,
    watermark_hash BLOB,
    updated_at_us  INTEGER NOT NULL
);

-- Sequence numbers whose entry is known lost (dead-lettered, or gone in a crash without the
-- spool): the watermark moves past them and `ledger verify` lists them apart from tampering.
CREATE TABLE ledger_gaps (
    instance_id    TEXT    NOT NULL,
    seq            INTEGER NOT NULL,
    request_id     TEXT,
    reason         TEXT    NOT NULL,
    entry_hash     BLOB,
    gap_mac        BLOB    NOT NULL,
    recorded_at_us INTEGER NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
