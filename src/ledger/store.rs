//! The ledger store: bulk insert of [`Entry`] rows per backend, and the few
//! reads that tests and reports need.
//!
//! Inserts are idempotent on `request_id` (`ON CONFLICT DO NOTHING`), so a
//! batch retried after an ambiguous failure never duplicates a row. Each
//! backend gets its fastest bulk path: SQLite one transaction of multi-row
//! `INSERT`s whose full chunks share one cached statement; PostgreSQL one
//! `INSERT … SELECT FROM UNNEST` of typed arrays, however large the batch.
//! Reading rows back lives in [`super::read`]; batching, retries and
//! dead-lettering live in the writer, not here.

use std::sync::LazyLock;

use sqlx::{Postgres, Sqlite};

use super::entry::Entry;
use crate::db::{Backend, Db};

/// The 26 stored columns in bind order (`id` is the database's own).
pub(crate) const COLUMNS: &str = "request_id, created_at_us, client_request_id, upstream_request_id, \
    user_id, user_name, api_key_id, endpoint, model, provider, upstream_model, \
    input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, \
    token_source, cost_nano, latency_us, upstream_latency_us, ttft_us, overhead_us, \
    status_code, streamed, error_kind, error_message";
const NUM_COLUMNS: usize = 26;

/// Rows per SQLite statement. SQLite allows 32,766 bind parameters
/// (1,260 rows of 26); 1,000 measured a little faster than 250 or 500 and
/// level with 1,260 (see docs/benchmarks.md).
pub const SQLITE_ROWS_PER_STATEMENT: usize = 1_000;
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
    #[error("row `{request_id}` of the {backend} ledger has an unknown token_source `{value}`")]
    BadTokenSource {
        request_id: String,
        backend: Backend,
        value: String,
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
        let StoreError::Query { source, .. } = self else {
            return false;
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
/// `request_id` is already stored are skipped, so retries are safe. All or
/// nothing: on error no row of the batch is written.
pub async fn insert_batch(db: &Db, entries: &[Entry]) -> Result<u64, StoreError> {
    insert_batch_into(db, LEDGER_TABLE, entries).await
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
    match db {
        Db::Sqlite(pool) => sqlite_insert(pool, table, entries)
            .await
            .map_err(StoreError::query(db, context())),
        Db::Postgres(pool) => postgres_insert(pool, table, entries)
            .await
            .map_err(StoreError::query(db, context())),
    }
}

fn sqlite_sql(table: &str, rows: usize) -> String {
    let row = format!("({})", vec!["?"; NUM_COLUMNS].join(","));
    format!(
        "INSERT INTO {table} ({COLUMNS}) VALUES {} ON CONFLICT (request_id) DO NOTHING",
        vec![row.as_str(); rows].join(",")
    )
}

/// The statement for a full chunk: one text, so sqlx prepares it once per
/// connection and reuses it.
static SQLITE_FULL_CHUNK: LazyLock<String> =
    LazyLock::new(|| sqlite_sql(LEDGER_TABLE, SQLITE_ROWS_PER_STATEMENT));

async fn sqlite_insert(
    pool: &sqlx::SqlitePool,
    table: &str,
    entries: &[Entry],
) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut inserted = 0;
    for chunk in entries.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let tail;
        let sql: &str = if chunk.len() == SQLITE_ROWS_PER_STATEMENT && table == LEDGER_TABLE {
            &SQLITE_FULL_CHUNK
        } else {
            tail = sqlite_sql(table, chunk.len());
            &tail
        };
        let mut q = sqlx::query::<Sqlite>(sql);
        for e in chunk {
            let u = &e.usage;
            q = q
                .bind(e.request_id.as_str())
                .bind(e.created_at_us)
                .bind(e.client_request_id.as_deref())
                .bind(e.upstream_request_id.as_deref())
                .bind(e.user_id)
                .bind(e.user_name.as_deref())
                .bind(e.api_key_id)
                .bind(e.endpoint.as_str())
                .bind(e.model.as_str())
                .bind(e.provider.as_str())
                .bind(e.upstream_model.as_deref())
                .bind(u.input_tokens)
                .bind(u.cached_input_tokens)
                .bind(u.cache_write_tokens)
                .bind(u.output_tokens)
                .bind(u.reasoning_tokens)
                .bind(e.token_source.as_str())
                .bind(e.cost_nano)
                .bind(e.latency_us)
                .bind(e.upstream_latency_us)
                .bind(e.ttft_us)
                .bind(e.overhead_us)
                .bind(e.status_code)
                .bind(e.streamed)
                .bind(e.error_kind.as_deref())
                .bind(e.error_message.as_deref());
        }
        inserted += q.execute(&mut *tx).await?.rows_affected();
    }
    tx.commit().await?;
    Ok(inserted)
}

const POSTGRES_SQL: &str = "INSERT INTO usage_entries (request_id, created_at_us, \
    client_request_id, upstream_request_id, user_id, user_name, api_key_id, endpoint, model, \
    provider, upstream_model, input_tokens, cached_input_tokens, cache_write_tokens, \
    output_tokens, reasoning_tokens, token_source, cost_nano, latency_us, upstream_latency_us, \
    ttft_us, overhead_us, status_code, streamed, error_kind, error_message) \
    SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::int8[], \
    $6::text[], $7::int8[], $8::text[], $9::text[], $10::text[], $11::text[], $12::int8[], \
    $13::int8[], $14::int8[], $15::int8[], $16::int8[], $17::text[], $18::int8[], $19::int8[], \
    $20::int8[], $21::int8[], $22::int8[], $23::int4[], $24::bool[], $25::text[], $26::text[]) \
    ON CONFLICT (request_id) DO NOTHING";

async fn postgres_insert(
    pool: &sqlx::PgPool,
    table: &str,
    entries: &[Entry],
) -> Result<u64, sqlx::Error> {
    fn col<'a, T>(entries: &'a [Entry], f: impl Fn(&'a Entry) -> T) -> Vec<T> {
        entries.iter().map(f).collect()
    }
    let e = entries;
    let other;
    let sql = if table == LEDGER_TABLE {
        POSTGRES_SQL
    } else {
        other = POSTGRES_SQL.replacen(LEDGER_TABLE, table, 1);
        &other
    };
    let q = sqlx::query::<Postgres>(sql)
        .bind(col(e, |e| e.request_id.as_str()))
        .bind(col(e, |e| e.created_at_us))
        .bind(col(e, |e| e.client_request_id.as_deref()))
        .bind(col(e, |e| e.upstream_request_id.as_deref()))
        .bind(col(e, |e| e.user_id))
        .bind(col(e, |e| e.user_name.as_deref()))
        .bind(col(e, |e| e.api_key_id))
        .bind(col(e, |e| e.endpoint.as_str()))
        .bind(col(e, |e| e.model.as_str()))
        .bind(col(e, |e| e.provider.as_str()))
        .bind(col(e, |e| e.upstream_model.as_deref()))
        .bind(col(e, |e| e.usage.input_tokens))
        .bind(col(e, |e| e.usage.cached_input_tokens))
        .bind(col(e, |e| e.usage.cache_write_tokens))
        .bind(col(e, |e| e.usage.output_tokens))
        .bind(col(e, |e| e.usage.reasoning_tokens))
        .bind(col(e, |e| e.token_source.as_str()))
        .bind(col(e, |e| e.cost_nano))
        .bind(col(e, |e| e.latency_us))
        .bind(col(e, |e| e.upstream_latency_us))
        .bind(col(e, |e| e.ttft_us))
        .bind(col(e, |e| e.overhead_us))
        .bind(col(e, |e| e.status_code))
        .bind(col(e, |e| e.streamed))
        .bind(col(e, |e| e.error_kind.as_deref()))
        .bind(col(e, |e| e.error_message.as_deref()));
    Ok(q.execute(pool).await?.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_statements_stay_under_the_bind_limit() {
        assert_eq!(COLUMNS.split(',').count(), NUM_COLUMNS);
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
        let bad = StoreError::BadTokenSource {
            request_id: "r".into(),
            backend: Backend::Postgres,
            value: "x".into(),
        };
        assert!(!bad.is_transient());
        assert!(bad.to_string().contains("`x`"));
    }
}
