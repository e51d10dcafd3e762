//! A prepared SQLite statement whose text and blob parameters are bound in
//! place, without SQLite copying them.
//!
//! Why: rusqlite binds every text and blob as `SQLITE_TRANSIENT`, so SQLite
//! copies each value into memory of its own (a `malloc` and a `memcpy`, and
//! a `free` when the parameter is bound again). For the ledger writer's
//! multi-row insert (30 values per row, a dozen of them strings) that was
//! about 30 % of the committing thread's time in the writer bench's profile
//! (docs/benchmarks-history.md, "SQLite: values bound in place"), and that thread is
//! the writer's bottleneck. SQLite reads a bound value only while the
//! statement steps, so binding it as `SQLITE_STATIC` lets it read the
//! entries' own strings.
//!
//! The price is the `unsafe` below, each block saying why it holds (the
//! statement's preparing and finalizing are `db::sqlite_raw`'s). The rule SQLite sets for `SQLITE_STATIC` is that
//! the bound memory stays valid until the parameter is bound again or the
//! statement is finalized; [`Insert::execute`] borrows the rows for the
//! whole call and clears every binding before it returns, so no pointer
//! into them outlives the borrow.

use std::ffi::{c_char, c_int};
use std::marker::PhantomData;

use rusqlite::{Connection, ffi};

use crate::db::sqlite_raw::Stmt;

/// One prepared insert of the connection it was prepared on. It must be
/// dropped (finalized) before that connection closes: the owner declares it
/// before the connection, and Rust drops fields in declaration order.
#[derive(Debug)]
pub(crate) struct Insert {
    stmt: Stmt,
}

// SAFETY: the statement is only ever used through `&mut Insert`, by the
// owner of its connection (`FileWriter`, itself `Send`: a rusqlite
// `Connection` opened with `SQLITE_OPEN_NO_MUTEX` may move between threads
// as long as no two use it at once, which `&mut` guarantees).
unsafe impl Send for Insert {}

impl Insert {
    /// Prepares `sql` on `conn`, flagged persistent (it is kept for the
    /// connection's lifetime).
    pub fn prepare(conn: &Connection, sql: &str) -> rusqlite::Result<Insert> {
        Stmt::prepare(conn, sql, true).map(|stmt| Insert { stmt })
    }

    /// Binds `rows` (row `k`'s parameters after the first `k * width`)
    /// with `bind`, steps the statement once, resets it and clears every
    /// binding. Returns the number of rows the step changed.
    pub fn execute<'r, T>(
        &mut self,
        rows: &'r [T],
        width: usize,
        bind: impl Fn(&mut Params<'r>, &'r T),
    ) -> rusqlite::Result<u64> {
        let stmt = self.stmt.as_ptr();
        // Every parameter gets a value: one left unbound would be NULL,
        // and an `INSERT OR IGNORE` would skip its row without a word.
        // SAFETY: a live statement.
        let expected = unsafe { ffi::sqlite3_bind_parameter_count(stmt) };
        let given = rows.len() * width;
        if usize::try_from(expected).ok() != Some(given) {
            return Err(rusqlite::Error::InvalidParameterCount(
                given,
                usize::try_from(expected).unwrap_or(0),
            ));
        }
        let mut params = Params {
            stmt,
            next: 1,
            rc: ffi::SQLITE_OK,
            rows: PhantomData,
        };
        // No early return from here on: the bindings must be cleared. The
        // count fits a `c_int` (checked above); were it not to, SQLite
        // would refuse the index (SQLITE_RANGE), kept in `params.rc`.
        for (k, row) in rows.iter().enumerate() {
            params.next = c_int::try_from(k * width + 1).unwrap_or(c_int::MAX);
            bind(&mut params, row);
        }
        // SAFETY: `stmt` is a live statement of a live connection; every
        // pointer bound into it refers into `rows`, borrowed for this call,
        // and `sqlite3_clear_bindings` below drops them all before it
        // returns, on success and on error alike.
        unsafe {
            let db = ffi::sqlite3_db_handle(stmt);
            let result = if params.rc != ffi::SQLITE_OK {
                Err(self.stmt.error(params.rc))
            } else {
                match ffi::sqlite3_step(stmt) {
                    ffi::SQLITE_DONE => Ok(u64::try_from(ffi::sqlite3_changes64(db)).unwrap_or(0)),
                    ffi::SQLITE_ROW => Err(rusqlite::Error::ExecuteReturnedResults),
                    rc => Err(self.stmt.error(rc)),
                }
            };
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
            result
        }
    }
}

/// The parameters of one step, bound in order from the row's first. The
/// first error is kept and reported by [`Insert::execute`].
pub(crate) struct Params<'r> {
    stmt: *mut ffi::sqlite3_stmt,
    next: c_int,
    rc: c_int,
    /// Values bound in place must live as long as the rows.
    rows: PhantomData<&'r ()>,
}

impl<'r> Params<'r> {
    fn done(&mut self, rc: c_int) {
        if self.rc == ffi::SQLITE_OK {
            self.rc = rc;
        }
        self.next += 1;
    }

    /// An integer, or NULL.
    pub fn int(&mut self, v: impl Into<Option<i64>>) {
        // SAFETY: a live statement; integers are copied by SQLite.
        let rc = unsafe {
            match v.into() {
                Some(v) => ffi::sqlite3_bind_int64(self.stmt, self.next, v),
                None => ffi::sqlite3_bind_null(self.stmt, self.next),
            }
        };
        self.done(rc);
    }

    /// A text, bound in place, or NULL.
    pub fn text(&mut self, v: Option<&'r str>) {
        let rc = match v {
            None => self.null(),
            Some(s) => match c_int::try_from(s.len()) {
                // SAFETY: a live statement; `s` is valid UTF-8 of `len`
                // bytes and lives for `'r`, past the step (see `execute`).
                // An empty text points at a static "" rather than at an
                // empty `String`'s dangling pointer.
                Ok(len) => unsafe {
                    let p = if len == 0 {
                        c"".as_ptr()
                    } else {
                        s.as_ptr().cast::<c_char>()
                    };
                    ffi::sqlite3_bind_text(self.stmt, self.next, p, len, ffi::SQLITE_STATIC())
                },
                Err(_) => ffi::SQLITE_TOOBIG,
            },
        };
        self.done(rc);
    }

    /// A blob, bound in place, or NULL.
    pub fn blob(&mut self, v: Option<&'r [u8]>) {
        let rc = match v {
            None => self.null(),
            Some(b) => match c_int::try_from(b.len()) {
                // SAFETY: as for `text`; an empty blob is bound as a
                // zero-length blob, not through its dangling pointer.
                Ok(0) => unsafe { ffi::sqlite3_bind_zeroblob(self.stmt, self.next, 0) },
                Ok(len) => unsafe {
                    ffi::sqlite3_bind_blob(
                        self.stmt,
                        self.next,
                        b.as_ptr().cast(),
                        len,
                        ffi::SQLITE_STATIC(),
                    )
                },
                Err(_) => ffi::SQLITE_TOOBIG,
            },
        };
        self.done(rc);
    }

    fn null(&mut self) -> c_int {
        // SAFETY: a live statement.
        unsafe { ffi::sqlite3_bind_null(self.stmt, self.next) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Row {
        id: i64,
        name: Option<String>,
        data: Option<Vec<u8>>,
    }

    /// id, name, typeof(name), data, typeof(data)
    type Stored = (i64, Option<String>, String, Option<Vec<u8>>, String);

    fn bind<'r>(p: &mut Params<'r>, r: &'r Row) {
        p.int(r.id);
        p.text(r.name.as_deref());
        p.blob(r.data.as_deref());
    }

    fn table() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = Connection::open(dir.path().join("t.db")).expect("open");
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB)")
            .expect("create");
        (dir, conn)
    }

    #[test]
    fn values_bound_in_place_are_stored_exactly() {
        let (_dir, conn) = table();
        let mut insert =
            Insert::prepare(&conn, "INSERT INTO t VALUES (?,?,?),(?,?,?)").expect("prepare");
        let rows = [
            Row {
                id: 1,
                name: Some("ünïcode, \"quoted\"".into()),
                data: Some(vec![0, 1, 255]),
            },
            Row {
                id: 2,
                name: Some(String::new()),
                data: Some(Vec::new()),
            },
        ];
        assert_eq!(insert.execute(&rows, 3, bind).expect("execute"), 2);
        // The same statement again, with other rows: nothing of the first
        // ones is left bound.
        let more = [
            Row {
                id: 3,
                name: None,
                data: None,
            },
            Row {
                id: 4,
                name: Some("x".repeat(10_000)),
                data: None,
            },
        ];
        assert_eq!(insert.execute(&more, 3, bind).expect("execute"), 2);
        drop(rows);
        let mut stmt = conn
            .prepare("SELECT id, name, typeof(name), data, typeof(data) FROM t ORDER BY id")
            .expect("select");
        let got: Vec<Stored> = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(got[0].1.as_deref(), Some("ünïcode, \"quoted\""));
        assert_eq!(got[0].3.as_deref(), Some(&[0u8, 1, 255][..]));
        // Empty is empty, not NULL.
        assert_eq!((got[1].2.as_str(), got[1].4.as_str()), ("text", "blob"));
        assert_eq!(got[1].1.as_deref(), Some(""));
        assert_eq!((got[2].2.as_str(), got[2].4.as_str()), ("null", "null"));
        assert_eq!(got[3].1.as_ref().map(String::len), Some(10_000));
    }

    #[test]
    fn a_failed_step_reports_sqlites_error_and_leaves_the_statement_usable() {
        let (_dir, conn) = table();
        let mut insert = Insert::prepare(&conn, "INSERT INTO t VALUES (?,?,?)").expect("prepare");
        let row = |id| {
            [Row {
                id,
                name: None,
                data: None,
            }]
        };
        insert.execute(&row(1), 3, bind).expect("first");
        let err = insert.execute(&row(1), 3, bind).expect_err("duplicate key");
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ConstraintViolation)
        );
        assert!(err.to_string().contains("UNIQUE"), "{err}");
        insert.execute(&row(2), 3, bind).expect("after the failure");
        // More rows than the statement holds, or fewer: refused, nothing
        // stepped.
        let err = insert
            .execute(&[row(3), row(4)].concat(), 3, bind)
            .expect_err("too many");
        assert!(
            matches!(err, rusqlite::Error::InvalidParameterCount(6, 3)),
            "{err}"
        );
        let err = insert.execute(&row(3)[..0], 3, bind).expect_err("none");
        assert!(
            matches!(err, rusqlite::Error::InvalidParameterCount(0, 3)),
            "{err}"
        );
        // A value SQLite refuses to bind (here: one parameter too many) is
        // its error, and the row is not stepped.
        let err = insert
            .execute(&row(3), 3, |p, r| {
                bind(p, r);
                p.int(7);
            })
            .expect_err("range");
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ParameterOutOfRange),
            "{err}"
        );
        let count: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(count, 2);
    }

    #[test]
    fn bad_sql_is_an_error_not_a_statement() {
        let (_dir, conn) = table();
        let err = Insert::prepare(&conn, "INSERT INTO nowhere VALUES (?)").expect_err("no table");
        assert!(err.to_string().contains("nowhere"), "{err}");
    }
}
