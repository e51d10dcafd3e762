//! Reading the export's rows from a SQLite ledger file directly, with
//! rusqlite on the calling thread, rather than through sqlx.
//!
//! Why: sqlx's SQLite driver steps every statement on its own worker thread
//! and hands each row, its values copied, over a channel to the async side.
//! For a million-row export that hand-off, not SQLite, was the cost (the
//! profile in docs/benchmarks.md: thread wake-ups and allocation, SQLite
//! itself a few per cent). Here each row is decoded in place from SQLite's
//! own buffers and written before the next step. The SQL, the filter and
//! the order are the sqlx path's; that path stays for in-memory databases.
//! `ledger verify` reads its chains through the same reader.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::{FromSqlError, Type, Value};
use rusqlite::{Connection, OpenFlags, Row, params_from_iter};

use super::row::SELECT;
use super::{Bound, ExportRow, Filter};
use crate::db::Db;

/// A read-only connection to a ledger file.
pub(crate) struct Reader {
    conn: Connection,
}

impl Reader {
    /// Opens `path` read-only; `None` when it is not a file (an in-memory
    /// database) or cannot be opened so, and the caller reads through sqlx.
    pub fn open(path: &Path) -> Option<Reader> {
        if !path.is_file() {
            return None;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).ok()?;
        // A writer's checkpoint can hold the lock briefly; wait as sqlx would.
        conn.busy_timeout(Duration::from_secs(5)).ok()?;
        Some(Reader { conn })
    }

    /// A reader for `db` when it is a SQLite file; `None` for PostgreSQL
    /// and in-memory SQLite, which are read through sqlx.
    pub fn for_db(db: &Db) -> Option<Reader> {
        match db {
            Db::Sqlite(p) => Reader::open(p.connect_options().get_filename()),
            Db::Postgres(_) => None,
        }
    }

    /// Runs the export's `SELECT` with `filter` and `order` (an `ORDER BY`
    /// clause) and calls `f` with each row, in one statement (one snapshot).
    pub fn each<E: From<rusqlite::Error>>(
        &self,
        filter: &Filter,
        order: &str,
        mut f: impl FnMut(&ExportRow<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut sql = String::from(SELECT);
        let mut values = Vec::new();
        for (i, (cond, value)) in filter.conditions().into_iter().enumerate() {
            sql.push_str(if i == 0 { " WHERE " } else { " AND " });
            sql.push_str(cond);
            sql.push('?');
            values.push(match value {
                Bound::Int(v) => Value::Integer(v),
                Bound::Text(v) => Value::Text(v),
            });
        }
        sql.push_str(order);
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(values))?;
        while let Some(row) = rows.next()? {
            f(&decode(row)?)?;
        }
        Ok(())
    }
}

/// Runs blocking work from async code: on a multi-thread runtime the
/// worker hands its other tasks away first; elsewhere (a current-thread
/// runtime, as in tests) it simply runs.
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    if multi_thread() {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// Whether this runs on a multi-thread tokio runtime (where a thread may
/// block in place, and block on a future from there).
pub(crate) fn multi_thread() -> bool {
    use tokio::runtime::{Handle, RuntimeFlavor};
    Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread)
}

/// Decodes a row selected with [`SELECT`], by column index.
fn decode<'r>(r: &'r Row<'_>) -> rusqlite::Result<ExportRow<'r>> {
    Ok(ExportRow {
        id: int(r, 0)?,
        request_id: text(r, 1)?,
        created_at_us: int(r, 2)?,
        client_request_id: opt_text(r, 3)?,
        upstream_request_id: opt_text(r, 4)?,
        user_id: opt_int(r, 5)?,
        user_name: opt_text(r, 6)?,
        api_key_id: opt_int(r, 7)?,
        endpoint: text(r, 8)?,
        model: text(r, 9)?,
        provider: text(r, 10)?,
        upstream_model: opt_text(r, 11)?,
        input_tokens: int(r, 12)?,
        cached_input_tokens: int(r, 13)?,
        cache_write_tokens: int(r, 14)?,
        output_tokens: int(r, 15)?,
        reasoning_tokens: int(r, 16)?,
        token_source: text(r, 17)?,
        cost_nano: int(r, 18)?,
        latency_us: int(r, 19)?,
        upstream_latency_us: opt_int(r, 20)?,
        ttft_us: opt_int(r, 21)?,
        overhead_us: opt_int(r, 22)?,
        status_code: i32::try_from(int(r, 23)?).map_err(|e| conv(23, Type::Integer, e))?,
        streamed: int(r, 24)? != 0,
        error_kind: opt_text(r, 25)?,
        error_message: opt_text(r, 26)?,
        instance_id: opt_text(r, 27)?,
        seq: opt_int(r, 28)?,
        prev_hash: opt_blob(r, 29)?,
        entry_hash: opt_blob(r, 30)?,
    })
}

fn conv(i: usize, t: Type, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, t, Box::new(e))
}

fn int(r: &Row<'_>, i: usize) -> rusqlite::Result<i64> {
    r.get_ref(i)?
        .as_i64()
        .map_err(|e: FromSqlError| conv(i, Type::Integer, e))
}

fn opt_int(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<i64>> {
    r.get_ref(i)?
        .as_i64_or_null()
        .map_err(|e| conv(i, Type::Integer, e))
}

fn text<'r>(r: &'r Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    r.get_ref(i)?.as_str().map_err(|e| conv(i, Type::Text, e))
}

fn opt_text<'r>(r: &'r Row<'_>, i: usize) -> rusqlite::Result<Option<&'r str>> {
    r.get_ref(i)?
        .as_str_or_null()
        .map_err(|e| conv(i, Type::Text, e))
}

fn opt_blob<'r>(r: &'r Row<'_>, i: usize) -> rusqlite::Result<Option<&'r [u8]>> {
    r.get_ref(i)?
        .as_blob_or_null()
        .map_err(|e| conv(i, Type::Blob, e))
}
