//! `tokctl ledger spool replay`: a writer started without a server, with
//! the async writer and the spool forced on, so that it replays what the
//! spool holds above the committed watermark, and is stopped once it has
//! caught up. It lives with the writer (the spool does not start writers).

use super::*;

/// How a replay ended.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// Every spooled entry was committed (or recorded as a gap) in time.
    pub caught_up: bool,
    /// The writer's counts at its shutdown: `written`, `watermark`, `last_seq`.
    pub stats: WriterStats,
}

impl LedgerWriter {
    /// Replays the spool of `cfg` into `db`, waiting at most `limit` for
    /// it to catch up; the writer is shut down either way.
    pub async fn replay(
        db: Db,
        cfg: &LedgerConfig,
        limit: Duration,
    ) -> Result<Replayed, LedgerError> {
        let mut cfg = cfg.clone();
        cfg.async_writer.enabled = true;
        cfg.spool.enabled = true;
        let writer = LedgerWriter::start(db, &cfg).await?;
        let caught_up = writer.wait_caught_up(limit).await;
        let stats = writer.shutdown().await;
        Ok(Replayed { caught_up, stats })
    }
}
