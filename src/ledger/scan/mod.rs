//! Reading the ledger's rows back: the one read path that `ledger export`,
//! `ledger verify` and `ledger summary` share.
//!
//! What is here: the row filter ([`Filter`], and the `WHERE` clause it
//! pushes), the ways of reading rows — a SQLite file stepped directly
//! ([`sqlite_direct`]), sqlx's stream (in-memory SQLite), PostgreSQL's
//! `COPY` ([`postgres_copy`]) and a SQLite file read in parallel slices
//! ([`slices`]) — the hand-off of rows to a second thread ([`batch`]), and
//! the lookups of single entries ([`lookup`]). [`Scan::each`] is the one
//! place that chooses among the sequential ways; the parallel runner is
//! chosen by its callers, since what a worker makes of its slice (encoded
//! bytes, checked hashes) is theirs.
//!
//! What is not: file formats, compression, sinks, manifests and cursors
//! (`export/`), hashing and link-following (`chain/verify`), aggregates
//! (`summary`). Rows are decoded by column index and borrowed from the
//! driver's buffers ([`ExportRow`]), never copied into an owned entry.

pub(crate) mod batch;
mod filter;
mod lookup;
pub(crate) mod postgres_copy;
pub(crate) mod slices;
pub(crate) mod sqlite_direct;

use futures_util::TryStreamExt;
use sqlx::{Postgres, QueryBuilder, Sqlite};

pub use crate::ledger::columns::ExportRow;
pub(crate) use crate::ledger::columns::select;
pub(crate) use filter::{Bound, push_filter};
pub use filter::{Filter, FilterError, format_time, parse_time};
pub use lookup::{count, get, list_request_ids};
pub(crate) use sqlite_direct::{Reader, blocking, multi_thread};

use crate::db::{Backend, Db, on_pool};

/// Decodes a sqlx row selected with [`select`] into an [`ExportRow`], on
/// either backend (a macro: sqlx's row types share no trait that decodes
/// by index without naming the backend).
macro_rules! decode_row {
    ($row:expr) => {
        $crate::ledger::columns::Decode::export_row($row)
    };
}

/// Reading the ledger's rows failed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("reading the SQLite ledger file: {source}")]
    ReadFile {
        #[from]
        source: rusqlite::Error,
    },
    #[error("reading the {backend} ledger: {source}")]
    Read {
        backend: Backend,
        #[source]
        source: sqlx::Error,
    },
}

impl ScanError {
    /// A function turning a driver error of `db` into a [`ScanError`].
    pub fn read(db: &Db) -> impl Fn(sqlx::Error) -> ScanError + Copy {
        let backend = db.backend();
        move |source| ScanError::Read { backend, source }
    }
}

/// The order rows come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Time, then row id: a full export's order.
    Time,
    /// Sequence number within one chain: incremental exports and verify.
    Seq,
}

impl Order {
    /// The `ORDER BY` clause. Why time and not `id` alone: on PostgreSQL
    /// `id` has no index (migration 0004: every entry paid for one that
    /// only full exports read), while the time index gives this order on
    /// both backends (SQLite's index entries end with the rowid; PostgreSQL
    /// sorts only the rows of one timestamp), and a ranged scan (`--since`,
    /// `--until`) reads just its range of that index.
    pub fn sql(self) -> &'static str {
        match self {
            Order::Time => " ORDER BY created_at_us, id",
            Order::Seq => " ORDER BY seq",
        }
    }
}

/// Where rows are read from: the database, and, for a SQLite file, a
/// direct reader of it (stepping SQLite's statements without sqlx's
/// per-row costs; `sqlite_direct` says why).
pub struct Scan<'a> {
    db: &'a Db,
    file: Option<Reader>,
}

impl<'a> Scan<'a> {
    pub fn new(db: &'a Db) -> Scan<'a> {
        Scan {
            file: Reader::for_db(db),
            db,
        }
    }

    /// The SQLite file's direct reader, for a parallel scan in slices.
    pub(crate) fn file(&self) -> Option<&Reader> {
        self.file.as_ref()
    }

    /// Streams the rows `filter` selects, in `order`, to `emit`, through the
    /// cheapest sequential way this database allows: the SQLite file
    /// stepped directly, sqlx's stream for an in-memory SQLite, `COPY` for
    /// PostgreSQL (in a transaction whose plan keeps the index order, see
    /// [`index_ordered`]). `read_err` wraps a driver error as the caller's.
    /// Stops at `emit`'s first error and returns it.
    pub async fn each<E: From<rusqlite::Error>>(
        &self,
        filter: &Filter,
        order: Order,
        read_err: impl Fn(sqlx::Error) -> E,
        mut emit: impl FnMut(&ExportRow<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        if let Some(reader) = &self.file {
            return blocking(|| reader.each(filter, order.sql(), emit));
        }
        match self.db {
            Db::Sqlite(p) => {
                let mut q = QueryBuilder::<Sqlite>::new(select());
                push_filter!(q, filter);
                q.push(order.sql());
                let mut rows = q.build().fetch(p);
                while let Some(row) = rows.try_next().await.map_err(&read_err)? {
                    emit(&decode_row!(&row).map_err(&read_err)?)?;
                }
                Ok(())
            }
            Db::Postgres(p) => {
                let mut tx = index_ordered(p).await.map_err(&read_err)?;
                postgres_copy::each(&mut tx, filter, order.sql(), read_err, emit).await
            }
        }
    }

    /// How many rows `filter` selects.
    pub async fn count(&self, filter: &Filter) -> Result<u64, ScanError> {
        macro_rules! count {
            ($db:ty, $pool:expr) => {{
                let mut q = QueryBuilder::<$db>::new("SELECT COUNT(*) FROM usage_entries");
                push_filter!(q, filter);
                q.build_query_scalar::<i64>().fetch_one($pool).await
            }};
        }
        let n = match self.db {
            Db::Sqlite(p) => count!(Sqlite, p),
            Db::Postgres(p) => count!(Postgres, p),
        }
        .map_err(ScanError::read(self.db))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// Every chain's committed watermark, by instance id.
pub async fn watermarks(db: &Db) -> Result<Vec<(String, i64)>, ScanError> {
    const SQL: &str = "SELECT instance_id, watermark_seq FROM ledger_chains ORDER BY instance_id";
    on_pool!(db, p => sqlx::query_as(SQL).fetch_all(p).await).map_err(ScanError::read(db))
}

/// Reads and decodes the rows `filter` selects in time order, keeping
/// nothing: the bare scan that the export benchmark compares itself with.
/// Returns the row count and a sum over the rows (so the work cannot be
/// skipped).
pub async fn tally(db: &Db, filter: &Filter) -> Result<(u64, i64), ScanError> {
    let (mut n, mut sum) = (0u64, 0i64);
    Scan::new(db)
        .each(filter, Order::Time, ScanError::read(db), |r| {
            n += 1;
            sum = sum
                .wrapping_add(r.cost_nano)
                .wrapping_add(r.request_id.len() as i64);
            Ok(())
        })
        .await?;
    Ok((n, sum))
}

/// A transaction for PostgreSQL reads that stream rows in an order an index
/// already gives ([`Order`]): sorting is switched off for it. Why: right
/// after a bulk load, before autovacuum has analysed the table, the planner
/// estimates a chain at a thousand rows and picks a bitmap scan plus a
/// sort, which for a million rows spilled 380 MB to disk and held back the
/// first row (docs/benchmarks-history.md). The index scan streams from the
/// first row in every case. `SET LOCAL` ends with the transaction, so the
/// pool's connections are left as they were.
pub(crate) async fn index_ordered(
    pool: &sqlx::PgPool,
) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL enable_sort = off")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}
