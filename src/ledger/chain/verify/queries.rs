//! The queries of a verify that are not walks of a chain: the chains
//! themselves, each chain's gap rows, and the rows outside every chain
//! (counted against the chains' baselines, or by time without one).

use super::{Baseline, ChainRow};
use crate::db::{Db, on_pool};
use crate::ledger::chain::{Hash, hash_from_bytes};
use crate::ledger::store::StoreError;

pub(super) async fn chains(db: &Db) -> Result<Vec<ChainRow>, StoreError> {
    const SQL: &str = "SELECT instance_id, keyed, key_id, started_at_us, watermark_seq, \
        baseline_rows, baseline_max_id, baseline_mac FROM ledger_chains ORDER BY instance_id";
    let ctx = StoreError::query(db, "reading the chains");
    type R = (
        String,
        bool,
        Option<String>,
        i64,
        i64,
        Option<i64>,
        Option<i64>,
        Option<Vec<u8>>,
    );
    let rows: Vec<R> = on_pool!(db, p => sqlx::query_as(SQL).fetch_all(p).await).map_err(ctx)?;
    Ok(rows
        .into_iter()
        .map(
            |(instance_id, keyed, key_id, started_at_us, watermark, rows, max_id, mac)| ChainRow {
                instance_id,
                keyed,
                key_id,
                started_at_us,
                watermark,
                baseline_rows: rows,
                baseline_max_id: max_id,
                baseline_mac: mac,
            },
        )
        .collect())
}

/// Rows outside every chain, sorted into those the baseline accounts for
/// and those inserted since.
#[derive(Debug, Default)]
pub(super) struct Unchained {
    pub(super) inserted: u64,
    pub(super) first: Option<String>,
    pub(super) pre_chain: u64,
}

/// Counts the rows outside every chain against `b`: those with a higher id
/// than its highest, plus any surplus over its count among the rest. One
/// aggregate, whatever the rows' times say; on SQLite it reads the chain's
/// index alone (it holds `instance_id`, `seq` and the rowid `id`), on
/// PostgreSQL it scans the table once, as the time-bounded count did.
pub(super) async fn beyond_baseline(db: &Db, b: Baseline) -> Result<Unchained, StoreError> {
    // Outside every chain, as `record_baseline` counts them (start.rs).
    const SQL: &str = "SELECT COUNT(*), COALESCE(SUM(CASE WHEN id > $1 THEN 1 ELSE 0 END), 0), \
        MIN(CASE WHEN id > $1 THEN id END) FROM usage_entries \
        WHERE seq IS NULL OR instance_id IS NULL \
        OR instance_id NOT IN (SELECT instance_id FROM ledger_chains)";
    const SQLITE_SQL: &str = "SELECT COUNT(*), COALESCE(SUM(CASE WHEN id > $1 THEN 1 ELSE 0 END), 0), \
        MIN(CASE WHEN id > $1 THEN id END) FROM usage_entries INDEXED BY usage_entries_chain \
        WHERE seq IS NULL OR instance_id IS NULL \
        OR instance_id NOT IN (SELECT instance_id FROM ledger_chains)";
    const NAME: &str = "SELECT request_id FROM usage_entries WHERE id = $1 LIMIT 1";
    let ctx = || StoreError::query(db, "counting the rows outside every chain");
    // No rows before the chains: every id is beyond.
    let max_id = b.max_id.unwrap_or(i64::MIN);
    let (all, above, first_id): (i64, i64, Option<i64>) = match db {
        Db::Sqlite(p) => match sqlx::query_as(SQLITE_SQL).bind(max_id).fetch_one(p).await {
            Err(e) if e.to_string().contains("no such index") => {
                sqlx::query_as(SQL).bind(max_id).fetch_one(p).await
            }
            found => found,
        },
        Db::Postgres(p) => sqlx::query_as(SQL).bind(max_id).fetch_one(p).await,
    }
    .map_err(ctx())?;
    let below = all - above;
    let surplus = (below - b.rows).max(0);
    let first = match first_id {
        Some(id) => on_pool!(db, p => sqlx::query_scalar(NAME).bind(id).fetch_optional(p).await)
            .map_err(ctx())?,
        None => None,
    };
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(Unchained {
        inserted: count(above + surplus),
        first,
        pre_chain: count(below - surplus),
    })
}

/// Without a baseline (none recorded, or none that holds): rows outside
/// every chain written, by their `created_at_us`, since `since_us` (the first
/// chain's start). Blind to a row inserted with an older time.
pub(super) async fn unchained_since(db: &Db, since_us: i64) -> Result<Unchained, StoreError> {
    // Outside every chain: no place in one, or a place in a chain this
    // ledger does not have (a made-up instance id), which no walk reads.
    const SQL: &str = "SELECT request_id FROM usage_entries \
        WHERE (seq IS NULL OR instance_id IS NULL \
        OR instance_id NOT IN (SELECT instance_id FROM ledger_chains)) \
        AND created_at_us >= $1 ORDER BY id";
    // SQLite's planner scans the whole table for these (the time
    // index serves the other condition, and every row passes it): a third
    // of a million-row verify, after the chains were walked. The chain's
    // index holds `seq` too: scanning it instead reads far fewer bytes (a
    // few dozen per row, not the whole row) and fetches only the rows it
    // finds. If the index is gone, the plain scan does.
    const SQLITE_SQL: &str = "SELECT request_id FROM usage_entries INDEXED BY usage_entries_chain \
        WHERE (seq IS NULL OR instance_id IS NULL \
        OR instance_id NOT IN (SELECT instance_id FROM ledger_chains)) \
        AND created_at_us >= $1 ORDER BY id";
    let ctx = StoreError::query(db, "looking for rows outside every chain");
    let ids: Vec<String> = match db {
        Db::Sqlite(p) => match sqlx::query_scalar(SQLITE_SQL)
            .bind(since_us)
            .fetch_all(p)
            .await
        {
            Err(e) if e.to_string().contains("no such index") => {
                sqlx::query_scalar(SQL).bind(since_us).fetch_all(p).await
            }
            found => found,
        },
        Db::Postgres(p) => sqlx::query_scalar(SQL).bind(since_us).fetch_all(p).await,
    }
    .map_err(ctx)?;
    Ok(Unchained {
        inserted: ids.len() as u64,
        first: ids.into_iter().next(),
        pre_chain: 0,
    })
}

/// The lowest number in chain `instance` among its rows created at or
/// after `since_us` (`None`: no such row).
pub(super) async fn first_seq_since(
    db: &Db,
    instance: &str,
    since_us: i64,
) -> Result<Option<i64>, StoreError> {
    const SQL: &str = "SELECT MIN(seq) FROM usage_entries \
        WHERE instance_id = $1 AND created_at_us >= $2";
    let ctx = StoreError::query(
        db,
        format!("finding where chain `{instance}` passes a time"),
    );
    on_pool!(db, p => {
        sqlx::query_scalar(SQL)
            .bind(instance)
            .bind(since_us)
            .fetch_one(p)
            .await
    })
    .map_err(ctx)
}

pub(super) struct GapRow {
    pub(super) seq: i64,
    pub(super) request_id: Option<String>,
    pub(super) reason: String,
    pub(super) entry_hash: Option<Hash>,
    pub(super) mac: Vec<u8>,
}

pub(super) async fn gaps(db: &Db, instance: &str, since: i64) -> Result<Vec<GapRow>, StoreError> {
    const SQL: &str = "SELECT seq, request_id, reason, entry_hash, gap_mac FROM ledger_gaps \
        WHERE instance_id = $1 AND seq > $2 ORDER BY seq";
    let ctx = StoreError::query(db, format!("reading the gaps of chain `{instance}`"));
    type R = (i64, Option<String>, String, Option<Vec<u8>>, Vec<u8>);
    let rows: Vec<R> = on_pool!(db, p => {
        sqlx::query_as(SQL)
            .bind(instance)
            .bind(since)
            .fetch_all(p)
            .await
    })
    .map_err(ctx)?;
    Ok(rows
        .into_iter()
        .map(|(seq, request_id, reason, h, mac)| GapRow {
            seq,
            request_id,
            reason,
            entry_hash: h.as_deref().and_then(hash_from_bytes),
            mac,
        })
        .collect())
}
