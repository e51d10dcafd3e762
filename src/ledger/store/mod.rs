//! The ledger store: bulk insert of [`Entry`] rows per backend, and the few
//! reads that tests and reports need.
//!
//! Inserts are idempotent on `request_id` (SQLite: `INSERT OR IGNORE`, see
//! [`sqlite_sql`]; PostgreSQL: `ON CONFLICT DO NOTHING`, only once a plain
//! insert of the batch hit a duplicate, see `Idempotency`), so a batch
//! retried after an ambiguous failure never duplicates a row. Each backend
//! gets its fastest bulk path: a SQLite file one transaction stepping
//! prepared multi-row statements (`sqlite_file`) whose values are bound in
//! place (`sqlite_bind`), in-memory SQLite multi-row `INSERT`s whose full
//! chunks share one cached statement; PostgreSQL one binary `COPY` per batch,
//! however large, or one `INSERT … SELECT FROM UNNEST` of typed arrays when
//! duplicates must be skipped.
//! Reading rows back lives in [`super::read`]; batching, retries and
//! dead-lettering live in the writer, not here.

use std::sync::LazyLock;

use sqlx::{Postgres, Sqlite};

use super::chain::{Gap, Hash};
use super::columns::{self, BadValue, Row};
use super::entry::Entry;
use super::scan::blocking;
use crate::db::{Backend, Db};

mod checkpoint;
mod pg_arrays;
mod sqlx_binds;
use sqlx_binds::{SqlxBind, postgres_binds};
mod pg_copy;
mod sqlite_bind;
mod sqlite_file;
mod sqlite_tx;
pub(crate) use sqlite_file::FileWriter;
pub(crate) use sqlite_tx::{
    SQLITE_MAX_ID_SQL, SQLITE_ROLLUP_ONE_SQL, SQLITE_ROLLUP_SQL, rollup_sums, sqlite_sql,
};
use sqlite_tx::{sqlite_commit, sqlite_insert};

/// The stored columns ([`crate::ledger::columns::COLUMNS`]).
const NUM_COLUMNS: usize = columns::NUM_COLUMNS;

/// Rows per SQLite statement of the sqlx path. SQLite allows 32,766 bind
/// parameters (862 rows of 38); 1,000 rows of 30 measured a little faster
/// than 250 or 500 (see docs/benchmarks.md), and 800 is the most that fits.
pub const SQLITE_ROWS_PER_STATEMENT: usize = 800;
const _: () = assert!(SQLITE_ROWS_PER_STATEMENT * NUM_COLUMNS <= 32_766);

/// Errors of the ledger store, each saying what was being done where.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{context} on the {backend} ledger: {source}")]
    Query {
        context: String,
        backend: Backend,
        #[source]
        source: sqlx::Error,
    },
    #[error("reading the SQLite ledger file: {source}")]
    ReadFile {
        #[from]
        source: rusqlite::Error,
    },
    #[error("{context} on the SQLite ledger file: {source}")]
    WriteFile {
        context: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{source} (the {backend} ledger)")]
    BadValue {
        backend: Backend,
        #[source]
        source: BadValue,
    },
}

impl StoreError {
    pub(crate) fn query(
        db: &Db,
        context: impl Into<String>,
    ) -> impl FnOnce(sqlx::Error) -> StoreError {
        let backend = db.backend();
        let context = context.into();
        move |source| StoreError::Query {
            context,
            backend,
            source,
        }
    }

    /// Whether trying the same statement again later may succeed: lost
    /// connections, pool timeouts, a busy SQLite file, PostgreSQL
    /// serialization failures, deadlocks, lock timeouts or resource
    /// exhaustion. A rejected row is not.
    pub fn is_transient(&self) -> bool {
        let source = match self {
            StoreError::Query { source, .. } => source,
            StoreError::WriteFile { source, .. } => {
                use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
                let code = source.sqlite_error_code();
                return matches!(code, Some(DatabaseBusy | DatabaseLocked));
            }
            _ => return false,
        };
        match source {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(d) => {
                let code = d.code().unwrap_or_default();
                match d.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                    // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with extended codes.
                    Some(_) => matches!(code.parse::<i32>().map(|c| c & 0xff), Ok(5 | 6)),
                    None => {
                        ["08", "53", "57P"].iter().any(|p| code.starts_with(p))
                            || ["40001", "40P01", "55P03"].contains(&code.as_ref())
                    }
                }
            }
            _ => false,
        }
    }
}

/// Inserts `entries` and returns how many rows were new; entries whose
/// `request_id` (or place in a chain) is already stored are skipped, so
/// retries are safe. All or nothing: on error no row of the batch is written.
pub async fn insert_batch(db: &Db, entries: &[Entry]) -> Result<u64, StoreError> {
    insert_batch_into(db, LEDGER_TABLE, entries).await
}

/// A chain's committed watermark, moved with a batch.
#[derive(Debug, Clone, Copy)]
pub struct Watermark<'a> {
    pub instance_id: &'a str,
    pub seq: i64,
    pub hash: &'a Hash,
}

/// Inserts `entries` and `gaps` and moves the watermark forward (never
/// back), all in one transaction, so a reader never sees a watermark ahead
/// of the rows below it. Returns the entry rows that were new.
pub async fn commit(
    db: &Db,
    entries: &[Entry],
    gaps: &[Gap],
    watermark: Option<Watermark<'_>>,
) -> Result<u64, StoreError> {
    let context = || commit_context(entries, gaps);
    match db {
        Db::Sqlite(pool) => sqlite_commit(pool, entries, gaps, watermark).await,
        Db::Postgres(pool) => postgres_commit(pool, entries, gaps, watermark).await,
    }
    .map_err(StoreError::query(db, context()))
}

/// [`commit`] through a [`FileWriter`] the caller keeps open across
/// batches (the writer's workers do, on a SQLite file).
pub(crate) fn commit_file(
    file: &mut FileWriter,
    entries: &[Entry],
    gaps: &[Gap],
    watermark: Option<Watermark<'_>>,
) -> Result<u64, StoreError> {
    blocking(|| file.commit(LEDGER_TABLE, entries, gaps, watermark)).map_err(|source| {
        StoreError::WriteFile {
            context: commit_context(entries, gaps),
            source,
        }
    })
}

/// What a failed commit was doing, for its error message.
fn commit_context(entries: &[Entry], gaps: &[Gap]) -> String {
    format!(
        "committing a batch of {} entries and {} gaps",
        entries.len(),
        gaps.len()
    )
}

/// The ledger's table; [`insert_batch`] writes here.
pub(crate) const LEDGER_TABLE: &str = "usage_entries";

/// [`insert_batch`] into another table of the same schema, for
/// `tokctl tune --measure`'s scratch table. `table` is spliced into the
/// SQL, so it must be a constant identifier, never user input.
pub(crate) async fn insert_batch_into(
    db: &Db,
    table: &'static str,
    entries: &[Entry],
) -> Result<u64, StoreError> {
    if entries.is_empty() {
        return Ok(0);
    }
    let context = || format!("inserting a batch of {} entries", entries.len());
    let file_error = |source| StoreError::WriteFile {
        context: context(),
        source,
    };
    if let Some(mut file) = FileWriter::for_db(db, false).await.map_err(file_error)? {
        return blocking(|| file.commit(table, entries, &[], None)).map_err(file_error);
    }
    match db {
        Db::Sqlite(pool) => sqlite_insert(pool, table, entries).await,
        Db::Postgres(pool) => postgres_insert(pool, table, entries).await,
    }
    .map_err(StoreError::query(db, context()))
}

const GAP_SQL: &str = "INSERT INTO ledger_gaps (instance_id, seq, request_id, reason, \
    entry_hash, gap_mac, recorded_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
const WATERMARK_SQL: &str = "UPDATE ledger_chains SET watermark_seq = $1, watermark_hash = $2, \
    updated_at_us = $3 WHERE instance_id = $4 AND watermark_seq < $1";

/// How a PostgreSQL batch is kept idempotent.
///
/// `ON CONFLICT DO NOTHING` inserts speculatively: each row is checked
/// against the unique indexes, inserted, then confirmed, which made the
/// server's insert ~1.7x slower than a plain `INSERT` of the same rows
/// (docs/benchmarks-history.md, "PostgreSQL: plain inserts first"). Duplicates are
/// rare (a batch retried after an ambiguous failure, a spool replay after a
/// crash), so a batch is first sent plain, as a binary `COPY` (`pg_copy`
/// says why not an `INSERT`); if it hits a unique violation it fails whole,
/// nothing of it is written, and it is sent again as an
/// `INSERT … ON CONFLICT DO NOTHING`. After such a conflict the next
/// [`CAREFUL_BATCHES`] batches go straight to the careful form, so a replay
/// of many already-stored entries does not pay twice per batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Idempotency {
    /// A binary `COPY` (`pg_copy`): fails whole on a duplicate.
    Optimistic,
    /// `INSERT … ON CONFLICT DO NOTHING`: skips duplicates.
    Careful,
}

/// Batches sent careful after one hit a duplicate.
const CAREFUL_BATCHES: u32 = 16;

/// Careful batches still owed after the last conflict, across the process
/// (every PostgreSQL ledger commit shares it: a replay is process-wide).
static CAREFUL_LEFT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Idempotency {
    /// The form the next batch starts with.
    fn next() -> Idempotency {
        use std::sync::atomic::Ordering::Relaxed;
        let owed = CAREFUL_LEFT.fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
        if owed.is_ok() {
            Idempotency::Careful
        } else {
            Idempotency::Optimistic
        }
    }

    /// Runs `send` optimistically (unless a recent conflict says not to),
    /// and once more careful when the optimistic statement hit a duplicate.
    async fn run<T, F, Fut>(send: F) -> Result<T, sqlx::Error>
    where
        F: Fn(Idempotency) -> Fut,
        Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
    {
        let first = Idempotency::next();
        match send(first).await {
            Err(e) if first == Idempotency::Optimistic && is_unique_violation(&e) => {
                CAREFUL_LEFT.store(CAREFUL_BATCHES, std::sync::atomic::Ordering::Relaxed);
                send(Idempotency::Careful).await
            }
            other => other,
        }
    }
}

/// SQLSTATE 23505: a row of the statement duplicates a unique key.
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505"))
}

fn postgres_insert_sql(table: &str) -> String {
    pg_arrays::INSERT.replacen(LEDGER_TABLE, table, 1)
}

/// One statement, so one round trip and one implicit transaction: the
/// entries, the gaps and the watermark move together or not at all.
///
/// The watermark row is taken with `SKIP LOCKED`: when another worker's
/// batch holds it (until its commit, WAL flush included), this batch
/// commits without moving it instead of waiting, so parallel workers stay
/// parallel. The stored watermark is then a moment behind, never ahead:
/// the next batch, or the keeper within `head_interval_ms`, moves it.
static POSTGRES_COMMIT_SQL: LazyLock<String> = LazyLock::new(|| postgres_commit_sql(true));

/// The same for a commit without entries (the keeper's watermark and gaps):
/// nothing waits on it, so it waits for the row rather than skip it.
static POSTGRES_WATERMARK_SQL: LazyLock<String> = LazyLock::new(|| postgres_commit_sql(false));

fn postgres_commit_sql(skip_locked: bool) -> String {
    format!(
        "WITH ins AS ({} RETURNING 1), {} SELECT count(*) FROM ins",
        *pg_arrays::INSERT,
        gaps_and_watermark(NUM_COLUMNS + 1, skip_locked)
    )
}

/// After a batch's `COPY`, in its transaction: the gaps and the watermark.
static POSTGRES_AFTER_COPY_SQL: LazyLock<String> =
    LazyLock::new(|| format!("WITH {} SELECT 1", gaps_and_watermark(1, true)));

/// The two data-modifying CTEs that insert a batch's gaps and move its
/// chain's watermark, with parameters `$p` to `$p+10` bound by
/// [`bind_gaps_and_watermark`].
fn gaps_and_watermark(p: usize, skip_locked: bool) -> String {
    let lock = if skip_locked {
        "FOR UPDATE SKIP LOCKED"
    } else {
        "FOR UPDATE"
    };
    let [
        inst,
        seq,
        req,
        reason,
        hash,
        mac,
        at,
        wm_inst,
        wm_seq,
        wm_hash,
        now,
    ] = std::array::from_fn::<usize, 11, _>(|i| p + i);
    format!(
        "gaps AS (INSERT INTO ledger_gaps (instance_id, seq, request_id, reason, entry_hash, \
           gap_mac, recorded_at_us) SELECT * FROM UNNEST(${inst}::text[], ${seq}::int8[], \
           ${req}::text[], ${reason}::text[], ${hash}::bytea[], ${mac}::bytea[], ${at}::int8[]) \
           ON CONFLICT DO NOTHING), \
         wm AS (UPDATE ledger_chains c SET watermark_seq = ${wm_seq}, watermark_hash = ${wm_hash}, \
           updated_at_us = ${now} FROM (SELECT instance_id FROM ledger_chains \
             WHERE instance_id = ${wm_inst} AND watermark_seq < ${wm_seq} {lock}) l \
           WHERE c.instance_id = l.instance_id)"
    )
}

/// Binds what [`gaps_and_watermark`] asks for, in its order.
fn bind_gaps_and_watermark<'q, Q: PgBind<'q>>(
    q: Q,
    gaps: &'q [Gap],
    watermark: Option<Watermark<'q>>,
) -> Q {
    fn col<'a, T>(gaps: &'a [Gap], f: impl Fn(&'a Gap) -> T) -> Vec<T> {
        gaps.iter().map(f).collect()
    }
    let g = gaps;
    q.bind(col(g, |g| g.instance_id.as_str()))
        .bind(col(g, |g| g.seq))
        .bind(col(g, |g| g.request_id.as_deref()))
        .bind(col(g, |g| g.reason.as_str()))
        .bind(col(g, |g| g.entry_hash.as_ref().map(|h| h.as_slice())))
        .bind(col(g, |g| g.gap_mac.as_slice()))
        .bind(col(g, |g| g.recorded_at_us))
        .bind(watermark.map(|w| w.instance_id))
        .bind(watermark.map(|w| w.seq))
        .bind(watermark.map(|w| w.hash.as_slice()))
        .bind(crate::db::now_us())
}

async fn postgres_insert(
    pool: &sqlx::PgPool,
    table: &str,
    entries: &[Entry],
) -> Result<u64, sqlx::Error> {
    Idempotency::run(|how| async move {
        if how == Idempotency::Optimistic {
            // One COPY is one statement: all of it or nothing, alone.
            let mut conn = pool.acquire().await?;
            return postgres_copy(&mut conn, table, entries).await;
        }
        let other;
        let sql: &str = if table == LEDGER_TABLE {
            &pg_arrays::INSERT
        } else {
            other = postgres_insert_sql(table);
            &other
        };
        let q = postgres_binds(sqlx::query::<Postgres>(sql), entries);
        Ok(q.execute(pool).await?.rows_affected())
    })
    .await
}

/// Copies `entries` into `table` in PostgreSQL's binary format; fails
/// whole, with 23505, when one repeats a stored entry.
async fn postgres_copy(
    conn: &mut sqlx::PgConnection,
    table: &str,
    entries: &[Entry],
) -> Result<u64, sqlx::Error> {
    let data = pg_copy::encode(entries);
    let mut copy = conn.copy_in_raw(&pg_copy::statement(table)).await?;
    copy.send(data).await?;
    copy.finish().await
}

async fn postgres_commit(
    pool: &sqlx::PgPool,
    entries: &[Entry],
    gaps: &[Gap],
    watermark: Option<Watermark<'_>>,
) -> Result<u64, sqlx::Error> {
    let send = |how: Idempotency| async move {
        if entries.is_empty() || how == Idempotency::Careful {
            let sql: &str = if entries.is_empty() {
                &POSTGRES_WATERMARK_SQL
            } else {
                &POSTGRES_COMMIT_SQL
            };
            let q = sqlx::query_scalar::<Postgres, i64>(sql);
            let q = bind_gaps_and_watermark(postgres_binds(q, entries), gaps, watermark);
            return Ok(u64::try_from(q.fetch_one(pool).await?).unwrap_or(0));
        }
        // Optimistic: COPY the entries, then the gaps and the watermark,
        // in one transaction (dropped, so rolled back, on any error).
        let mut tx = pool.begin().await?;
        let inserted = postgres_copy(&mut tx, LEDGER_TABLE, entries).await?;
        if !gaps.is_empty() || watermark.is_some() {
            let q = sqlx::query::<Postgres>(&POSTGRES_AFTER_COPY_SQL);
            bind_gaps_and_watermark(q, gaps, watermark)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(inserted)
    };
    Idempotency::run(send).await
}

/// `bind` on sqlx's plain and scalar PostgreSQL queries alike, so one
/// function binds the entry arrays for both statements.
trait PgBind<'q>: Sized {
    fn bind<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>;
}

impl<'q> PgBind<'q> for sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    fn bind<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
    {
        sqlx::query::Query::bind(self, value)
    }
}

impl<'q> PgBind<'q> for sqlx::query::QueryScalar<'q, Postgres, i64, sqlx::postgres::PgArguments> {
    fn bind<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
    {
        sqlx::query::QueryScalar::bind(self, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_statements_stay_under_the_bind_limit() {
        assert_eq!(columns::list().split(',').count(), NUM_COLUMNS);
        let sql = sqlite_sql(LEDGER_TABLE, 3);
        assert_eq!(sql.matches('?').count(), 3 * NUM_COLUMNS);
    }

    #[test]
    fn transient_errors_are_told_apart_from_refusals() {
        let err = |source| StoreError::Query {
            context: "inserting".into(),
            backend: Backend::Sqlite,
            source,
        };
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(err(sqlx::Error::Io(io)).is_transient());
        assert!(err(sqlx::Error::PoolTimedOut).is_transient());
        assert!(!err(sqlx::Error::RowNotFound).is_transient());
        assert!(!err(sqlx::Error::PoolClosed).is_transient());
        let bad = StoreError::BadValue {
            backend: Backend::Postgres,
            source: BadValue {
                request_id: "r".into(),
                column: "token_source",
                value: "x".into(),
            },
        };
        assert!(!bad.is_transient());
        assert!(bad.to_string().contains("`x`"), "{bad}");
    }
}
