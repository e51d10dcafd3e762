//! Checkpoints of the SQLite ledger's WAL, run on a thread of their own.
//!
//! Why: with SQLite's automatic checkpoint, the commit that pushes the WAL
//! past its limit copies every page the WAL holds back into the database
//! file and waits for the syncs, on the writer's thread, while the next
//! batches wait. Here the writer's connection never checkpoints; after each
//! commit it nudges this thread, which runs a `PASSIVE` checkpoint on a
//! connection of its own at most every [`EVERY`]. `PASSIVE` neither waits
//! for nor blocks the writer, so the copy runs beside the next batch: the
//! writer bench measured 1.1-1.2x (docs/benchmarks-history.md, "SQLite:
//! checkpoints off the writer's thread").
//!
//! A passive checkpoint cannot always reset the WAL: SQLite starts it over
//! only when every frame has been copied back before the next write. If it
//! has grown past [`RESTART_PAGES`] all the same (a writer that never
//! paused, a long export holding a snapshot), the writer runs one
//! `RESTART` checkpoint itself at its next commit, as SQLite would have.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use tracing::{debug, warn};

/// The shortest time between two checkpoints.
const EVERY: Duration = Duration::from_millis(200);

/// WAL frames (pages) past which the writer restarts the WAL itself: 64
/// MiB at SQLite's default 4 KiB pages.
const RESTART_PAGES: i64 = 16_000;

/// The writer's side: nudges the thread, learns when the WAL is too long.
#[derive(Debug)]
pub(super) struct Checkpointer {
    nudge: SyncSender<()>,
    too_long: Arc<AtomicBool>,
}

impl Checkpointer {
    /// Starts the thread for the file at `path`; `None` (SQLite's own
    /// automatic checkpoints stay on) when it cannot be started.
    pub fn start(path: &Path, busy: Duration) -> Option<Checkpointer> {
        let (nudge, rx) = sync_channel(1);
        let too_long = Arc::new(AtomicBool::new(false));
        let flag = too_long.clone();
        let path = path.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("ledger-checkpoint".into())
            .spawn(move || run(&path, busy, &rx, &flag));
        match spawned {
            Ok(_) => Some(Checkpointer { nudge, too_long }),
            Err(e) => {
                warn!("cannot start the SQLite checkpoint thread ({e}); the writer checkpoints");
                None
            }
        }
    }

    /// Called after each commit: asks for a checkpoint (never waits), and
    /// says what the writer should do itself.
    pub fn committed(&self) -> Then {
        match self.nudge.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => return Then::TakeOver,
        }
        if self.too_long.swap(false, Relaxed) {
            Then::Restart
        } else {
            Then::Nothing
        }
    }
}

/// What the writer does after a commit.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Then {
    Nothing,
    /// Run a `RESTART` checkpoint: the WAL grew past [`RESTART_PAGES`].
    Restart,
    /// The thread has ended (it could not open the file): turn SQLite's
    /// automatic checkpoints back on.
    TakeOver,
}

/// The thread: one passive checkpoint per nudge, at most every [`EVERY`];
/// it ends when the writer drops its [`Checkpointer`].
fn run(path: &Path, busy: Duration, rx: &Receiver<()>, too_long: &AtomicBool) {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = match Connection::open_with_flags(path, flags) {
        Ok(c) => c,
        Err(e) => {
            warn!(
                "the SQLite checkpoint thread cannot open {}: {e}",
                path.display()
            );
            return;
        }
    };
    let _ = conn.busy_timeout(busy);
    let _ = conn.pragma_update(None, "synchronous", "NORMAL");
    let mut last: Option<Instant> = None;
    while rx.recv().is_ok() {
        let wait = last.map_or(Duration::ZERO, |t| EVERY.saturating_sub(t.elapsed()));
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        // (busy, frames in the WAL, frames copied back)
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        last = Some(Instant::now());
        match done {
            Ok((frames, copied)) => {
                debug!("ledger WAL checkpoint: {copied} of {frames} frames copied back");
                if frames > RESTART_PAGES {
                    too_long.store(true, Relaxed);
                }
            }
            Err(e) => warn!("ledger WAL checkpoint failed: {e}"),
        }
    }
}
