//! A SQLite statement prepared through SQLite's C API (`rusqlite::ffi`),
//! for the two hot loops that rusqlite's safe API makes slow: the ledger
//! writer's insert, which binds in place (`ledger::store::sqlite_bind`),
//! and the export's read, which takes each column straight from the
//! statement (`ledger::export::sqlite_direct`). Both are measured in
//! docs/benchmarks.md. This module holds what they share: preparing,
//! finalizing, and reporting SQLite's errors as rusqlite does.

use std::ffi::{CStr, c_char, c_int};
use std::ptr::{self, NonNull};

use rusqlite::{Connection, ffi};

/// One prepared statement, finalized on drop. It must be dropped before
/// the connection it was prepared on closes; each user ties it to the
/// connection (a borrow, or field order) and says how.
#[derive(Debug)]
pub(crate) struct Stmt {
    ptr: NonNull<ffi::sqlite3_stmt>,
}

impl Stmt {
    /// Prepares `sql` on `conn`; `persistent` tells SQLite it will be kept
    /// and stepped many times.
    pub fn prepare(conn: &Connection, sql: &str, persistent: bool) -> rusqlite::Result<Stmt> {
        let len = c_int::try_from(sql.len()).map_err(|_| too_big("the SQL text"))?;
        let flags = if persistent {
            ffi::SQLITE_PREPARE_PERSISTENT
        } else {
            0
        };
        let mut stmt = ptr::null_mut();
        // SAFETY: `conn.handle()` is a live connection for the duration of
        // the call; `sql` is valid for `len` bytes (no NUL terminator is
        // needed when the length is given); `stmt` is a valid out-pointer.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                conn.handle(),
                sql.as_ptr().cast::<c_char>(),
                len,
                flags as _,
                &mut stmt,
                ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            // SAFETY: as above; the error is the connection's latest.
            return Err(unsafe { error(conn.handle(), rc) });
        }
        NonNull::new(stmt)
            .map(|ptr| Stmt { ptr })
            .ok_or(rusqlite::Error::InvalidQuery)
    }

    /// The statement, live as long as `self`.
    pub fn as_ptr(&self) -> *mut ffi::sqlite3_stmt {
        self.ptr.as_ptr()
    }

    /// The error `rc` of a call on this statement, with its connection's
    /// message.
    pub fn error(&self, rc: c_int) -> rusqlite::Error {
        // SAFETY: a live statement belongs to a live connection.
        unsafe { error(ffi::sqlite3_db_handle(self.as_ptr()), rc) }
    }
}

impl Drop for Stmt {
    fn drop(&mut self) {
        // SAFETY: the statement is live and dropped once; its connection is
        // still open (see the type's comment).
        unsafe {
            ffi::sqlite3_finalize(self.ptr.as_ptr());
        }
    }
}

/// SQLITE_TOOBIG for a value longer than SQLite's `int` lengths allow.
pub(crate) fn too_big(what: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        ffi::Error::new(ffi::SQLITE_TOOBIG),
        Some(format!("{what} is too large to bind")),
    )
}

/// The error `rc` as rusqlite reports it, with the connection's message,
/// so that callers (the writer's retry on a busy file, the isolation of a
/// bad row, the export's error line) see the same error either way.
///
/// # Safety
/// `db` must be a live connection.
pub(crate) unsafe fn error(db: *mut ffi::sqlite3, rc: c_int) -> rusqlite::Error {
    // SAFETY: `db` is live (the caller's promise); the message is copied
    // before any other call on the connection could change it.
    // A code of a caller's own (TOOBIG for an oversized value) is not the
    // connection's: its message is then SQLite's text for the code.
    let (code, message) = unsafe {
        let extended = ffi::sqlite3_extended_errcode(db);
        let (code, msg) = if extended & 0xff == rc & 0xff {
            (extended, ffi::sqlite3_errmsg(db))
        } else {
            (rc, ffi::sqlite3_errstr(rc))
        };
        let message = (!msg.is_null()).then(|| CStr::from_ptr(msg).to_string_lossy().into_owned());
        (code, message)
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), message)
}
