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
//!
//! The columns are read through SQLite's C API ([`Query`]), not rusqlite's
//! `Row`: per column, rusqlite checks the index against the column count
//! and reads the type and the value through separate statement calls, and
//! that glue was about a fifth of the reading thread in the export's
//! profile (docs/benchmarks-history.md, "SQLite export: columns read in place").

use std::ffi::{CStr, c_char, c_int};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::Type;
use rusqlite::{Connection, OpenFlags, ffi};

use super::{Bound, ExportRow, Filter};
use crate::db::Db;
use crate::db::sqlite_raw::{Stmt, too_big};
use crate::ledger::columns::{self, Column, Row, Source, select};

/// A read-only connection to a ledger file.
pub(crate) struct Reader {
    conn: Connection,
    path: PathBuf,
}

impl Reader {
    /// Opens `path` read-only; `None` when it is not a file (an in-memory
    /// database) or cannot be opened so, and the caller reads through sqlx.
    pub fn open(path: &Path) -> Option<Reader> {
        if !path.is_file() {
            return None;
        }
        Reader::open_file(path).ok()
    }

    /// The file this reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A read-only connection to the ledger file at `path`.
    pub fn open_file(path: &Path) -> rusqlite::Result<Reader> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        // A writer's checkpoint can hold the lock briefly; wait as sqlx would.
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(Reader {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The highest sequence number of `instance`'s chain (`None`: no
    /// entries), from the chain's index.
    pub fn last_seq(&self, instance: &str) -> rusqlite::Result<Option<i64>> {
        self.conn.query_row(
            "SELECT max(seq) FROM usage_entries WHERE instance_id = ?1",
            [instance],
            |r| r.get(0),
        )
    }

    /// The highest row id, and the earliest and latest `created_at_us`, of
    /// the ledger as it stands (`None`: no rows). Each is one index probe.
    pub fn extent(&self) -> rusqlite::Result<Option<(i64, i64, i64)>> {
        self.conn.query_row(
            "SELECT (SELECT max(id) FROM usage_entries), \
                    (SELECT min(created_at_us) FROM usage_entries), \
                    (SELECT max(created_at_us) FROM usage_entries)",
            [],
            |r| {
                Ok(match (r.get(0)?, r.get(1)?, r.get(2)?) {
                    (Some(id), Some(lo), Some(hi)) => Some((id, lo, hi)),
                    _ => None,
                })
            },
        )
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
        let mut sql = String::from(select());
        let mut values = Vec::new();
        for (i, (cond, value)) in filter.conditions().into_iter().enumerate() {
            sql.push_str(if i == 0 { " WHERE " } else { " AND " });
            sql.push_str(cond);
            sql.push('?');
            values.push(value);
        }
        sql.push_str(order);
        let mut query = Query::new(&self.conn, &sql, &values)?;
        while query.step()? {
            f(&decode(&query.columns())?)?;
        }
        Ok(())
    }
}

/// Columns the export's `SELECT` yields, in [`decode`]'s order.
const SELECTED: c_int = columns::SELECTED as c_int;

/// The export's `SELECT`, stepped row by row. It borrows the connection it
/// was prepared on, so it is finalized before that can close.
struct Query<'c> {
    stmt: Stmt,
    conn: PhantomData<&'c Connection>,
}

impl<'c> Query<'c> {
    /// Prepares `sql` on `conn` and binds `values` to its parameters in
    /// order. SQLite copies them (`SQLITE_TRANSIENT`): a filter has a few.
    fn new(conn: &'c Connection, sql: &str, values: &[Bound]) -> rusqlite::Result<Query<'c>> {
        let stmt = Stmt::prepare(conn, sql, false)?;
        let p = stmt.as_ptr();
        // SAFETY: a live statement.
        let count = unsafe { ffi::sqlite3_column_count(p) };
        if count != SELECTED {
            return Err(rusqlite::Error::InvalidColumnIndex(SELECTED as usize));
        }
        for (i, value) in values.iter().enumerate() {
            let i = c_int::try_from(i + 1).map_err(|_| too_big("the filter"))?;
            // SAFETY: a live statement; text is copied by SQLite before
            // the call returns (`SQLITE_TRANSIENT`).
            let rc = unsafe {
                match value {
                    Bound::Int(v) => ffi::sqlite3_bind_int64(p, i, *v),
                    Bound::Text(v) => {
                        let len =
                            c_int::try_from(v.len()).map_err(|_| too_big("a filter value"))?;
                        let s = v.as_ptr().cast::<c_char>();
                        ffi::sqlite3_bind_text(p, i, s, len, ffi::SQLITE_TRANSIENT())
                    }
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(stmt.error(rc));
            }
        }
        Ok(Query {
            stmt,
            conn: PhantomData,
        })
    }

    /// Steps to the next row: `false` when there is none. Taking `&mut`
    /// ends every borrow of the previous row's columns first.
    fn step(&mut self) -> rusqlite::Result<bool> {
        // SAFETY: a live statement; no column of the previous row is
        // borrowed any more (see above).
        match unsafe { ffi::sqlite3_step(self.stmt.as_ptr()) } {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => Ok(false),
            rc => Err(self.stmt.error(rc)),
        }
    }

    /// The current row's columns, valid until the next step.
    fn columns(&self) -> Columns<'_> {
        Columns {
            stmt: self.stmt.as_ptr(),
            row: PhantomData,
        }
    }
}

/// The columns of the row a [`Query`] stands on, borrowed from SQLite's
/// buffers for as long as the query is not stepped again.
struct Columns<'q> {
    stmt: *mut ffi::sqlite3_stmt,
    row: PhantomData<&'q ()>,
}

impl<'q> Columns<'q> {
    /// Column `i`'s value and its type (`SQLITE_INTEGER`, `SQLITE_TEXT`…).
    ///
    /// `sqlite3_column_value` hands out the statement's own value without
    /// SQLite's connection mutex ("unprotected"); reading it is sound here
    /// because the connection is used by this thread alone (opened
    /// `SQLITE_OPEN_NO_MUTEX`, and `Connection` is not `Sync`).
    fn value(&self, i: c_int) -> (*mut ffi::sqlite3_value, c_int) {
        // SAFETY: the statement is live and stands on a row (the borrow of
        // the query); an index out of range yields SQLite's NULL value.
        unsafe {
            let v = ffi::sqlite3_column_value(self.stmt, i);
            (v, ffi::sqlite3_value_type(v))
        }
    }

    /// The error for column `i` holding a value of type `t`.
    fn wrong_type(&self, i: c_int, t: c_int) -> rusqlite::Error {
        // SAFETY: a live statement; the name is copied at once.
        let name = unsafe {
            let p = ffi::sqlite3_column_name(self.stmt, i);
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        let found = match t {
            ffi::SQLITE_INTEGER => Type::Integer,
            ffi::SQLITE_FLOAT => Type::Real,
            ffi::SQLITE_TEXT => Type::Text,
            ffi::SQLITE_BLOB => Type::Blob,
            _ => Type::Null,
        };
        rusqlite::Error::InvalidColumnType(i as usize, name, found)
    }

    fn int(&self, i: c_int) -> rusqlite::Result<i64> {
        self.opt_int(i)?
            .ok_or_else(|| self.wrong_type(i, ffi::SQLITE_NULL))
    }

    fn opt_int(&self, i: c_int) -> rusqlite::Result<Option<i64>> {
        match self.value(i) {
            // SAFETY: an integer value of the current row.
            (v, ffi::SQLITE_INTEGER) => Ok(Some(unsafe { ffi::sqlite3_value_int64(v) })),
            (_, ffi::SQLITE_NULL) => Ok(None),
            (_, t) => Err(self.wrong_type(i, t)),
        }
    }

    fn text(&self, i: c_int) -> rusqlite::Result<&'q str> {
        self.opt_text(i)?
            .ok_or_else(|| self.wrong_type(i, ffi::SQLITE_NULL))
    }

    fn opt_text(&self, i: c_int) -> rusqlite::Result<Option<&'q str>> {
        match self.value(i) {
            (v, ffi::SQLITE_TEXT) => {
                // SAFETY: a text value of the current row: `text` first,
                // then its length in bytes (SQLite's documented order);
                // the bytes stay put until the next step, which the
                // borrow `'q` rules out.
                let bytes = unsafe {
                    let p = ffi::sqlite3_value_text(v);
                    let n = usize::try_from(ffi::sqlite3_value_bytes(v)).unwrap_or(0);
                    raw_slice(p, n)
                };
                std::str::from_utf8(bytes)
                    .map(Some)
                    .map_err(rusqlite::Error::Utf8Error)
            }
            (_, ffi::SQLITE_NULL) => Ok(None),
            (_, t) => Err(self.wrong_type(i, t)),
        }
    }

    fn opt_blob(&self, i: c_int) -> rusqlite::Result<Option<&'q [u8]>> {
        match self.value(i) {
            // SAFETY: as for text; an empty blob's pointer is NULL.
            (v, ffi::SQLITE_BLOB) => Ok(Some(unsafe {
                let p = ffi::sqlite3_value_blob(v).cast::<u8>();
                let n = usize::try_from(ffi::sqlite3_value_bytes(v)).unwrap_or(0);
                raw_slice(p, n)
            })),
            (_, ffi::SQLITE_NULL) => Ok(None),
            (_, t) => Err(self.wrong_type(i, t)),
        }
    }
}

/// `n` bytes at `p`, or none when `p` is NULL (SQLite's empty blob, or a
/// conversion that ran out of memory).
///
/// # Safety
/// A non-NULL `p` must be valid for `n` bytes for `'a`.
unsafe fn raw_slice<'a>(p: *const u8, n: usize) -> &'a [u8] {
    if p.is_null() || n == 0 {
        &[]
    } else {
        // SAFETY: the caller's promise.
        unsafe { std::slice::from_raw_parts(p, n) }
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

/// Decodes a row selected with [`select`], by column index.
fn decode<'q>(r: &Columns<'q>) -> rusqlite::Result<ExportRow<'q>> {
    let id = r.int(0)?;
    let row = Row::read(&mut Cursor { columns: r, at: 1 })?;
    Ok(ExportRow { id, row })
}

/// The columns of one row, read in order from `at`. Its methods are
/// inlined into [`decode`], which then reads the columns as one function,
/// as it did before the column table.
struct Cursor<'c, 'q> {
    columns: &'c Columns<'q>,
    at: c_int,
}

impl Cursor<'_, '_> {
    #[inline(always)]
    fn next(&mut self) -> c_int {
        self.at += 1;
        self.at - 1
    }
}

impl<'q> Source<'q> for Cursor<'_, 'q> {
    type Error = rusqlite::Error;
    #[inline(always)]
    fn text(&mut self, _: &'static Column) -> rusqlite::Result<&'q str> {
        let i = self.next();
        self.columns.text(i)
    }
    #[inline(always)]
    fn opt_text(&mut self, _: &'static Column) -> rusqlite::Result<Option<&'q str>> {
        let i = self.next();
        self.columns.opt_text(i)
    }
    #[inline(always)]
    fn int(&mut self, _: &'static Column) -> rusqlite::Result<i64> {
        let i = self.next();
        self.columns.int(i)
    }
    #[inline(always)]
    fn opt_int(&mut self, _: &'static Column) -> rusqlite::Result<Option<i64>> {
        let i = self.next();
        self.columns.opt_int(i)
    }
    #[inline(always)]
    fn int4(&mut self, _: &'static Column) -> rusqlite::Result<i32> {
        let i = self.next();
        let v = self.columns.int(i)?;
        i32::try_from(v).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i as usize, Type::Integer, e.into())
        })
    }
    #[inline(always)]
    fn opt_int4(&mut self, _: &'static Column) -> rusqlite::Result<Option<i32>> {
        let i = self.next();
        match self.columns.opt_int(i)? {
            None => Ok(None),
            Some(v) => i32::try_from(v).map(Some).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(i as usize, Type::Integer, e.into())
            }),
        }
    }
    #[inline(always)]
    fn boolean(&mut self, _: &'static Column) -> rusqlite::Result<bool> {
        let i = self.next();
        Ok(self.columns.int(i)? != 0)
    }
    #[inline(always)]
    fn opt_blob(&mut self, _: &'static Column) -> rusqlite::Result<Option<&'q [u8]>> {
        let i = self.next();
        self.columns.opt_blob(i)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A ledger file at `path` with the export's columns (untyped but for
    /// the integer key, no constraints, so a test can store what the writer
    /// never would) and the time index, as the real one has.
    pub(crate) fn table(path: &Path) -> Connection {
        let conn = Connection::open(path).expect("open");
        let mut columns = String::from("id INTEGER PRIMARY KEY");
        for c in &columns::COLUMNS {
            columns.push_str(", ");
            columns.push_str(c.name);
            match c.fill {
                columns::Fill::Int(n) => columns.push_str(&format!(" DEFAULT {n}")),
                columns::Fill::Text(t) => columns.push_str(&format!(" DEFAULT '{t}'")),
                _ => {}
            }
        }
        conn.execute_batch(&format!(
            "CREATE TABLE usage_entries ({columns});
             CREATE INDEX usage_entries_time ON usage_entries (created_at_us);"
        ))
        .expect("create");
        conn
    }

    /// `INSERT INTO usage_entries (id, …) VALUES`, naming `id` and the
    /// first 30 columns (message v1's and the link): the others take their
    /// defaults, as under an older binary.
    pub(crate) fn insert_v1() -> String {
        let names: Vec<&str> = columns::COLUMNS[..30].iter().map(|c| c.name).collect();
        format!(
            "INSERT INTO usage_entries (id, {}) VALUES",
            names.join(", ")
        )
    }

    /// [`table`] holding `rows` (SQL value lists), and a reader on it.
    fn ledger(rows: &[&str]) -> (tempfile::TempDir, Reader) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("l.db");
        let conn = table(&path);
        for values in rows {
            conn.execute_batch(&format!("{} ({values})", insert_v1()))
                .expect("insert");
        }
        drop(conn);
        let reader = Reader::open(&path).expect("a reader on a file");
        (dir, reader)
    }

    const FULL: &str = "1, 'req-1', 1700000000000000, 'cli, \"x\"', '', 7, 'ünï', 9, \
        '/v1/chat/completions', 'm', 'p', NULL, 10, 0, 0, 20, 3, 'provider', 123, 456, NULL, \
        NULL, 12, 200, 1, NULL, NULL, 'gw-1', 5, x'00ff', x''";

    fn read_all(reader: &Reader, filter: &Filter) -> rusqlite::Result<Vec<String>> {
        let mut out = Vec::new();
        reader.each(filter, " ORDER BY id", |r: &ExportRow<'_>| {
            out.push(format!("{r:?}"));
            Ok::<_, rusqlite::Error>(())
        })?;
        Ok(out)
    }

    #[test]
    fn columns_are_read_exactly_with_nulls_and_empty_values() {
        let (_dir, reader) = ledger(&[FULL]);
        let mut got = Vec::new();
        reader
            .each(&Filter::default(), "", |r: &ExportRow<'_>| {
                got.push((
                    r.id,
                    r.request_id.to_owned(),
                    r.client_request_id.map(str::to_owned),
                    r.upstream_request_id.map(str::to_owned),
                    r.user_name.map(str::to_owned),
                    r.upstream_model.map(str::to_owned),
                    (r.reasoning_tokens, r.cost_nano, r.ttft_us, r.overhead_us),
                    (r.status_code, r.streamed, r.seq),
                    r.prev_hash.map(<[u8]>::to_vec),
                    r.entry_hash.map(<[u8]>::to_vec),
                ));
                Ok::<_, rusqlite::Error>(())
            })
            .expect("read");
        assert_eq!(got.len(), 1);
        let r = &got[0];
        assert_eq!((r.0, r.1.as_str()), (1, "req-1"));
        assert_eq!(r.2.as_deref(), Some("cli, \"x\""));
        assert_eq!(r.3.as_deref(), Some(""), "empty text is empty, not NULL");
        assert_eq!(r.4.as_deref(), Some("ünï"));
        assert_eq!(r.5, None);
        assert_eq!(r.6, (3, 123, None, Some(12)));
        assert_eq!(r.7, (200, true, Some(5)));
        assert_eq!(r.8.as_deref(), Some(&[0u8, 255][..]));
        assert_eq!(r.9.as_deref(), Some(&[][..]), "an empty blob is not NULL");
    }

    #[test]
    fn the_filter_is_bound_to_the_query() {
        let second = FULL
            .replacen("1, 'req-1'", "2, 'req-2'", 1)
            .replace("'ünï'", "'bob'");
        let (_dir, reader) = ledger(&[FULL, &second]);
        let filter = Filter {
            user: Some("bob".into()),
            ..Filter::default()
        };
        let rows = read_all(&reader, &filter).expect("read");
        assert_eq!(rows.len(), 1);
        assert!(rows[0].contains("req-2"), "{}", rows[0]);
        let filter = Filter {
            key: Some(9),
            since_us: Some(1_700_000_000_000_001),
            ..Filter::default()
        };
        assert!(read_all(&reader, &filter).expect("read").is_empty());
    }

    #[test]
    fn a_value_of_the_wrong_kind_is_an_error_naming_the_column() {
        // Text where an integer belongs, NULL where text is required, and
        // text that is not UTF-8: stored behind the writer's back, each
        // ends the read with an error, never a panic or a wrong value.
        let cases = [
            (
                FULL.replacen("10, 0, 0, 20", "'ten', 0, 0, 20", 1),
                "input_tokens",
            ),
            (FULL.replace("'/v1/chat/completions'", "NULL"), "endpoint"),
            (FULL.replace("'provider'", "x'00'"), "token_source"),
        ];
        for (row, column) in cases {
            let (_dir, reader) = ledger(&[&row]);
            let err = read_all(&reader, &Filter::default()).expect_err(column);
            assert!(
                matches!(&err, rusqlite::Error::InvalidColumnType(_, name, _) if name == column),
                "{column}: {err}"
            );
        }
        let (_dir, reader) = ledger(&[&FULL.replace("'ünï'", "CAST(x'c328' AS TEXT)")]);
        let err = read_all(&reader, &Filter::default()).expect_err("bad UTF-8");
        assert!(matches!(err, rusqlite::Error::Utf8Error(_)), "{err}");
    }
}
