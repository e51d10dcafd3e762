//! Writing batches into a SQLite ledger file directly, with rusqlite on the
//! calling thread, rather than through sqlx.
//!
//! Why: sqlx binds every value of a multi-row `INSERT` into an argument
//! buffer of its own, then hands the statement to its worker thread, which
//! copies the values again into SQLite. SQLite itself is fast at this when
//! fed prepared statements of several rows ([`STEP_SIZES`]) inside one
//! transaction, each value bound straight from the entry's fields: the writer bench
//! (docs/benchmarks-history.md, "Ledger writer: SQLite written directly") measures
//! the gain. The SQL and its semantics are the sqlx path's (idempotent on
//! `request_id`, entries, gaps and watermark in one transaction); that path
//! stays for in-memory databases.

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::checkpoint::{Checkpointer, Then};
use super::sqlite_bind::{Insert, Params};
use super::{GAP_SQL, LEDGER_TABLE, NUM_COLUMNS, Watermark};
use crate::db::Db;
use crate::ledger::chain::Gap;
use crate::ledger::columns::{Column, Row, Visit};
use crate::ledger::entry::Entry;

/// Page cache of the writer's connection, in KiB.
const WRITER_CACHE_KIB: i64 = 16 * 1024;

/// WAL size, in pages, past which a commit of the writer checkpoints it
/// when the checkpoint thread ([`super::checkpoint`]) is not running.
const WRITER_CHECKPOINT_PAGES: i64 = 8_000;

/// A read-write connection to a ledger file, kept by the writer across
/// batches so its statements stay prepared.
#[derive(Debug)]
pub(crate) struct FileWriter {
    /// The insert statements prepared on `conn`, by SQL text. Declared
    /// before `conn` so they are finalized before it closes.
    inserts: Vec<(String, Insert)>,
    conn: Connection,
    /// Checkpoints the WAL beside the writer; `None`: SQLite's automatic
    /// checkpoints, on the writer's thread.
    checkpoints: Option<Checkpointer>,
}

impl FileWriter {
    /// Opens the file behind `db`; `None` for PostgreSQL and in-memory
    /// SQLite, which are written through sqlx. The busy timeout is the
    /// pool's own (`PRAGMA busy_timeout` asked of one of its connections),
    /// so a locked file is waited for exactly as long either way. `kept`:
    /// the connection will write many batches (the ledger writer's), so
    /// its checkpoints move to a thread of their own; a connection opened
    /// for one batch leaves them to SQLite.
    pub async fn for_db(db: &Db, kept: bool) -> Result<Option<FileWriter>, rusqlite::Error> {
        let Db::Sqlite(pool) = db else {
            return Ok(None);
        };
        let path = pool.connect_options().get_filename().to_path_buf();
        if !path.is_file() {
            return Ok(None);
        }
        // Unknown (the pool cannot be reached): sqlx's default, 5 s.
        let busy_ms: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(pool)
            .await
            .unwrap_or(5_000);
        let busy = Duration::from_millis(u64::try_from(busy_ms).unwrap_or(5_000));
        FileWriter::open(&path, busy, kept).map(Some)
    }

    fn open(path: &Path, busy: Duration, kept: bool) -> Result<FileWriter, rusqlite::Error> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(busy)?;
        // The pool's settings: WAL is kept by the file, `synchronous` is
        // per connection (NORMAL: a commit survives a process crash, and
        // a power loss may take the last ones, which the spool covers).
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        // The writer's own connection only (readers keep SQLite's
        // defaults): a larger page cache keeps the hot right-hand pages of
        // the table and its indexes between batches. A kept connection's
        // checkpoints run on a thread of their own (super::checkpoint), at
        // most five times a second; a one-batch connection's every
        // WRITER_CHECKPOINT_PAGES instead of SQLite's 1,000.
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        let checkpoints = kept.then(|| Checkpointer::start(path, busy)).flatten();
        let pages = if checkpoints.is_some() {
            0
        } else {
            WRITER_CHECKPOINT_PAGES
        };
        conn.pragma_update(None, "wal_autocheckpoint", pages)?;
        Ok(FileWriter {
            inserts: Vec::new(),
            conn,
            checkpoints,
        })
    }

    /// After a commit: nudges the checkpoint thread, and does what it
    /// cannot (restart a WAL grown too long, or take checkpoints back).
    fn committed(&mut self) {
        let Some(c) = &self.checkpoints else {
            return;
        };
        match c.committed() {
            Then::Nothing => {}
            Then::Restart => {
                let restarted = self
                    .conn
                    .query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0));
                if let Err(e) = restarted {
                    tracing::warn!("ledger WAL checkpoint (RESTART) failed: {e}");
                }
            }
            Then::TakeOver => {
                self.checkpoints = None;
                let _ =
                    self.conn
                        .pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES);
            }
        }
    }

    /// Inserts `entries` into `table`, and `gaps`, and moves the watermark
    /// forward, in one `BEGIN IMMEDIATE` transaction. Returns the entry rows
    /// that were new. `table` is spliced into the SQL: a constant, never
    /// user input.
    pub fn commit(
        &mut self,
        table: &str,
        entries: &[Entry],
        gaps: &[Gap],
        watermark: Option<Watermark<'_>>,
    ) -> Result<u64, rusqlite::Error> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rolled = table == LEDGER_TABLE;
        let before: i64 = if rolled {
            tx.prepare_cached(super::SQLITE_MAX_ID_SQL)?
                .query_row([], |r| r.get(0))?
        } else {
            0
        };
        let mut inserted = 0;
        let mut rest = entries;
        for (rows, sql) in STEP_SIZES.iter().zip(INSERTS.iter()) {
            if rest.len() < *rows {
                continue;
            }
            let sql: Cow<'_, str> = match table {
                LEDGER_TABLE => sql.into(),
                other => super::sqlite_sql(other, *rows).into(),
            };
            let at = match self.inserts.iter().position(|(s, _)| *s == sql) {
                Some(at) => at,
                None => {
                    let stmt = Insert::prepare(&tx, &sql)?;
                    self.inserts.push((sql.into_owned(), stmt));
                    self.inserts.len() - 1
                }
            };
            let stmt = &mut self.inserts[at].1;
            while let Some((chunk, tail)) = rest.split_at_checked(*rows) {
                inserted += stmt.execute(chunk, NUM_COLUMNS, bind_entry)?;
                rest = tail;
            }
        }
        if rolled && inserted as usize == entries.len() {
            let mut one = tx.prepare_cached(super::SQLITE_ROLLUP_ONE_SQL)?;
            for (scope, id, hour, cost, n) in super::rollup_sums(entries) {
                one.execute([scope, id, hour, cost, n])?;
            }
        } else if rolled && inserted > 0 {
            // Some were duplicates: sum only the rows this batch added.
            tx.prepare_cached(super::SQLITE_ROLLUP_SQL)?
                .execute([before])?;
        }
        if !gaps.is_empty() {
            let mut stmt = tx.prepare_cached(GAP_SQL)?;
            for g in gaps {
                stmt.execute(rusqlite::params![
                    g.instance_id,
                    g.seq,
                    g.request_id,
                    g.reason,
                    g.entry_hash.as_ref().map(|h| h.as_slice()),
                    g.gap_mac.as_slice(),
                    g.recorded_at_us,
                ])?;
            }
        }
        if let Some(w) = watermark {
            tx.prepare_cached(super::WATERMARK_SQL)?
                .execute(rusqlite::params![
                    w.seq,
                    w.hash.as_slice(),
                    crate::db::now_us(),
                    w.instance_id,
                ])?;
        }
        tx.commit()?;
        self.committed();
        Ok(inserted)
    }
}

/// Rows per step of the insert statements, largest first; a batch is cut
/// into as many of the largest as fit, then the next size, down to single
/// rows. Why more than one row: each step of a statement opens a cursor on
/// the table and on each of its indexes and closes them at the end, and
/// resets every bound value; for a single-row statement that bookkeeping is
/// paid per entry, with several rows per step once per chunk
/// (docs/benchmarks-history.md, "SQLite: several rows per step"). The smaller sizes
/// serve the gateway's usual batches, which are smaller than 128 (the
/// default `batch_size` is 100).
const STEP_SIZES: [usize; 4] = [128, 32, 8, 1];

/// The insert statement of each of [`STEP_SIZES`], for the ledger table:
/// prepared once per connection.
static INSERTS: std::sync::LazyLock<[String; 4]> =
    std::sync::LazyLock::new(|| STEP_SIZES.map(|rows| super::sqlite_sql(LEDGER_TABLE, rows)));

/// Binds an entry's columns in the column table's order.
fn bind_entry<'r>(p: &mut Params<'r>, e: &'r Entry) {
    Row::of(e).visit(p);
}

/// Each column bound in place ([`super::sqlite_bind`]): text and blobs
/// borrowed, booleans as 0/1.
impl<'r> Visit<'r> for Params<'r> {
    fn text(&mut self, _: &'static Column, v: &'r str) {
        Params::text(self, Some(v));
    }
    fn opt_text(&mut self, _: &'static Column, v: Option<&'r str>) {
        Params::text(self, v);
    }
    fn int(&mut self, _: &'static Column, v: i64) {
        Params::int(self, v);
    }
    fn opt_int(&mut self, _: &'static Column, v: Option<i64>) {
        Params::int(self, v);
    }
    fn int4(&mut self, _: &'static Column, v: i32) {
        Params::int(self, i64::from(v));
    }
    fn opt_int4(&mut self, _: &'static Column, v: Option<i32>) {
        Params::int(self, v.map(i64::from));
    }
    fn boolean(&mut self, _: &'static Column, v: bool) {
        Params::int(self, i64::from(v));
    }
    fn opt_blob(&mut self, _: &'static Column, v: Option<&'r [u8]>) {
        Params::blob(self, v);
    }
}
