//! SQLite through sqlx: the multi-row insert statements, the batch commit
//! (entries, gaps, watermark) and the spend rollups added in the same
//! transaction. The file writer (`sqlite_file`) shares the statements and
//! the rollups; PostgreSQL's paths stay in `mod.rs`.

use super::*;

/// The multi-row insert of `rows` entries into `table` (a constant, never
/// user input): the sqlx path's chunks and the file writer's steps.
///
/// `OR IGNORE` rather than `ON CONFLICT DO NOTHING`: both skip a row whose
/// `request_id` (or chain place) is already stored, but with `OR IGNORE`
/// no constraint of this statement can abort it half-way, so SQLite keeps
/// no statement journal: before, every step copied the pages it was about
/// to change (about 5 % of the writer's time, docs/benchmarks-history.md, "SQLite:
/// values bound in place"). The other constraints `OR IGNORE` would skip a
/// row for cannot fire: every `NOT NULL` column is bound from a field that
/// is not an `Option`, and the table has no `CHECK`. A trigger's
/// `RAISE(ABORT)` still aborts, and SQLite then keeps the journal itself.
pub(crate) fn sqlite_sql(table: &str, rows: usize) -> String {
    let row = format!("({})", vec!["?"; NUM_COLUMNS].join(","));
    format!(
        "INSERT OR IGNORE INTO {table} ({}) VALUES {}",
        columns::list(),
        vec![row.as_str(); rows].join(",")
    )
}

/// The statement for a full chunk: one text, so sqlx prepares it once per
/// connection and reuses it.
pub(super) static SQLITE_FULL_CHUNK: LazyLock<String> =
    LazyLock::new(|| sqlite_sql(LEDGER_TABLE, SQLITE_ROWS_PER_STATEMENT));

pub(super) async fn sqlite_insert(
    pool: &sqlx::SqlitePool,
    table: &str,
    entries: &[Entry],
) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let inserted = sqlite_rows(&mut tx, table, entries).await?;
    tx.commit().await?;
    Ok(inserted)
}

pub(super) async fn sqlite_commit(
    pool: &sqlx::SqlitePool,
    entries: &[Entry],
    gaps: &[Gap],
    watermark: Option<Watermark<'_>>,
) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let inserted = sqlite_rows(&mut tx, LEDGER_TABLE, entries).await?;
    for g in gaps {
        sqlx::query::<Sqlite>(GAP_SQL)
            .bind(g.instance_id.as_str())
            .bind(g.seq)
            .bind(g.request_id.as_deref())
            .bind(g.reason.as_str())
            .bind(g.entry_hash.as_ref().map(|h| h.as_slice()))
            .bind(g.gap_mac.as_slice())
            .bind(g.recorded_at_us)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(w) = watermark {
        sqlx::query::<Sqlite>(WATERMARK_SQL)
            .bind(w.seq)
            .bind(w.hash.as_slice())
            .bind(crate::db::now_us())
            .bind(w.instance_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(inserted)
}

/// SQLite: the highest rowid of the ledger, read in a batch's transaction
/// before its inserts. Rows the batch inserts get higher ones; rows it
/// skips as duplicates keep theirs.
pub(crate) const SQLITE_MAX_ID_SQL: &str = "SELECT COALESCE(MAX(id), 0) FROM usage_entries";

/// SQLite: adds the rows above rowid `?1` (what this batch really
/// inserted) to `spend_rollups`, per scope and hour, in the batch's own
/// transaction: for a batch in which some entries were duplicates (a
/// replay), whose sums [`rollup_sums`] cannot tell. Per-row triggers, as
/// PostgreSQL's statement trigger is not, cost SQLite half its write rate.
pub(crate) const SQLITE_ROLLUP_SQL: &str = "INSERT INTO spend_rollups \
    (scope, scope_id, hour_us, shard, cost_nano, requests) \
    SELECT scope, scope_id, hour_us, 0, SUM(cost_nano), COUNT(*) FROM ( \
      SELECT 1 AS scope, api_key_id AS scope_id, \
        created_at_us / 3600000000 * 3600000000 AS hour_us, cost_nano \
        FROM usage_entries WHERE id > ?1 AND api_key_id IS NOT NULL \
      UNION ALL SELECT 2, user_id, created_at_us / 3600000000 * 3600000000, cost_nano \
        FROM usage_entries WHERE id > ?1 AND user_id IS NOT NULL \
      UNION ALL SELECT 3, team_id, created_at_us / 3600000000 * 3600000000, cost_nano \
        FROM usage_entries WHERE id > ?1 AND team_id IS NOT NULL) \
    WHERE true GROUP BY scope, scope_id, hour_us \
    ON CONFLICT (scope, scope_id, hour_us, shard) DO UPDATE \
    SET cost_nano = cost_nano + excluded.cost_nano, requests = requests + excluded.requests";

/// SQLite: adds one (scope, id, hour) sum of a batch to `spend_rollups`.
pub(crate) const SQLITE_ROLLUP_ONE_SQL: &str = "INSERT INTO spend_rollups \
    (scope, scope_id, hour_us, shard, cost_nano, requests) VALUES (?1, ?2, ?3, 0, ?4, ?5) \
    ON CONFLICT (scope, scope_id, hour_us, shard) DO UPDATE \
    SET cost_nano = cost_nano + excluded.cost_nano, requests = requests + excluded.requests";

/// A batch's spend per (scope code, scope id, hour): `(scope, id, hour_us,
/// cost_nano, requests)`, in key order. Summed here when every entry of
/// the batch was inserted (the usual case): a few upserts per batch, where
/// [`SQLITE_ROLLUP_SQL`] re-reads and sorts the batch's rows, which cost
/// SQLite's writer 29 % of its rate.
pub(crate) fn rollup_sums(entries: &[Entry]) -> Vec<(i64, i64, i64, i64, i64)> {
    let mut sums: std::collections::BTreeMap<(i64, i64, i64), (i64, i64)> = Default::default();
    for e in entries {
        let hour = e.created_at_us.div_euclid(3_600_000_000) * 3_600_000_000;
        for (scope, id) in [(1, e.api_key_id), (2, e.user_id), (3, e.team_id)] {
            if let Some(id) = id {
                let s = sums.entry((scope, id, hour)).or_default();
                s.0 += e.cost_nano;
                s.1 += 1;
            }
        }
    }
    sums.into_iter()
        .map(|((scope, id, hour), (cost, n))| (scope, id, hour, cost, n))
        .collect()
}

/// Inserts `entries` and, into the ledger table, adds what was inserted
/// to the spend rollups.
async fn sqlite_rows(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    table: &str,
    entries: &[Entry],
) -> Result<u64, sqlx::Error> {
    if table != LEDGER_TABLE {
        return sqlite_insert_rows(tx, table, entries).await;
    }
    let before: i64 = sqlx::query_scalar(SQLITE_MAX_ID_SQL)
        .fetch_one(&mut **tx)
        .await?;
    let inserted = sqlite_insert_rows(tx, table, entries).await?;
    if inserted as usize == entries.len() {
        for (scope, id, hour, cost, n) in rollup_sums(entries) {
            sqlx::query::<Sqlite>(SQLITE_ROLLUP_ONE_SQL)
                .bind(scope)
                .bind(id)
                .bind(hour)
                .bind(cost)
                .bind(n)
                .execute(&mut **tx)
                .await?;
        }
    } else if inserted > 0 {
        // Some were duplicates: sum only the rows this batch added.
        sqlx::query::<Sqlite>(SQLITE_ROLLUP_SQL)
            .bind(before)
            .execute(&mut **tx)
            .await?;
    }
    Ok(inserted)
}

async fn sqlite_insert_rows(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    table: &str,
    entries: &[Entry],
) -> Result<u64, sqlx::Error> {
    let mut inserted = 0;
    for chunk in entries.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let tail;
        let sql: &str = if chunk.len() == SQLITE_ROWS_PER_STATEMENT && table == LEDGER_TABLE {
            &SQLITE_FULL_CHUNK
        } else {
            tail = sqlite_sql(table, chunk.len());
            &tail
        };
        let mut q = SqlxBind(Some(sqlx::query::<Sqlite>(sql)));
        for e in chunk {
            Row::of(e).visit(&mut q);
        }
        let Some(q) = q.0 else {
            return Ok(inserted);
        };
        inserted += q.execute(&mut **tx).await?.rows_affected();
    }
    Ok(inserted)
}
