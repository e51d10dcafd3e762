//! The writer's counters: atomics updated by the hot path and the workers,
//! and [`WriterStats`], the plain snapshot read by health checks, metrics
//! and tests.
//!
//! Counted per batch where possible (STYLE rule 10): one update per flush,
//! not per row. Rendering and metric names live elsewhere.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A point-in-time view of the writer, cheap to take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Entries in the channel not yet taken by a worker.
    pub queue_depth: u64,
    /// The channel's capacity (`ledger.async.buffer_size`).
    pub buffer_size: u64,
    /// Rows inserted (a retried entry that was already stored is not counted twice).
    pub written: u64,
    /// Entries refused: full buffer under `on_full = "drop"`, or recorded after shutdown.
    pub dropped: u64,
    /// Entries the database refused even alone, appended to the dead-letter file.
    pub dead_lettered: u64,
    /// Requests refused with 503 `ledger_unavailable` before the upstream
    /// was called: no room for their entry within `full_wait_ms`.
    pub refused: u64,
    /// Batches flushed (inline writes count one each).
    pub batches: u64,
    pub last_batch_size: u64,
    pub last_flush: Duration,
    /// Sum of all flush durations, for a `_seconds_sum` metric.
    pub flush_duration_sum: Duration,
    /// The chain's committed watermark and the last number assigned: the
    /// difference is the backlog not yet in the database.
    pub watermark: i64,
    pub last_seq: i64,
    /// Whether entries go through the spool (`ledger.spool.enabled`).
    pub spooled: bool,
    /// Bytes of spool segments on disk (0 with the spool off).
    pub spool_bytes: u64,
    /// `ledger.spool.max_bytes` (0 with the spool off).
    pub spool_max_bytes: u64,
    /// How long the oldest entry not yet in the database has waited (spool on).
    pub oldest_unwritten: Duration,
    /// Spool records found torn or corrupt and skipped.
    pub spool_torn_records: u64,
    /// Why the spool takes no new entries now (full, or its disk failing).
    pub spool_refusal: Option<&'static str>,
    /// Started during a database outage and not yet writing: why, and
    /// whether it is for good (a schema this binary does not know, a
    /// chain that does not match) rather than waiting.
    pub opening: Option<(&'static str, bool)>,
    /// How long the watermark has not moved while rows were written and
    /// a backlog waited (zero when it moves): past
    /// [`super::writer::STUCK_AFTER`] an entry the gateway cannot account
    /// for sits just above it.
    pub watermark_stuck_for: Duration,
}

impl WriterStats {
    /// Entries assigned a number but not yet committed (or recorded as gaps).
    pub fn backlog(&self) -> u64 {
        u64::try_from(self.last_seq - self.watermark).unwrap_or(0)
    }
}

/// The live counters behind [`WriterStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub queued: AtomicU64,
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub refused: AtomicU64,
    pub batches: AtomicU64,
    pub last_batch_size: AtomicU64,
    pub last_flush_ns: AtomicU64,
    pub flush_ns_sum: AtomicU64,
}

impl Counters {
    /// Records one flushed batch: its size, the rows it inserted, its duration.
    pub fn batch(&self, size: usize, inserted: u64, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.written.fetch_add(inserted, Relaxed);
        self.batches.fetch_add(1, Relaxed);
        self.last_batch_size.store(size as u64, Relaxed);
        self.last_flush_ns.store(ns, Relaxed);
        self.flush_ns_sum.fetch_add(ns, Relaxed);
    }

    /// Entries that were handed to a worker.
    pub fn dequeued(&self, n: usize) {
        // Saturating: a worker may take an entry before its sender counted it.
        let _ = self
            .queued
            .fetch_update(Relaxed, Relaxed, |q| Some(q.saturating_sub(n as u64)));
    }

    pub fn snapshot(&self, buffer_size: usize) -> WriterStats {
        WriterStats {
            queue_depth: self.queued.load(Relaxed),
            buffer_size: buffer_size as u64,
            written: self.written.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            dead_lettered: self.dead_lettered.load(Relaxed),
            refused: self.refused.load(Relaxed),
            batches: self.batches.load(Relaxed),
            last_batch_size: self.last_batch_size.load(Relaxed),
            last_flush: Duration::from_nanos(self.last_flush_ns.load(Relaxed)),
            flush_duration_sum: Duration::from_nanos(self.flush_ns_sum.load(Relaxed)),
            ..WriterStats::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_accumulate_and_queue_never_underflows() {
        let c = Counters::default();
        c.batch(10, 9, Duration::from_millis(2));
        c.batch(4, 4, Duration::from_millis(3));
        c.dequeued(5);
        let s = c.snapshot(100);
        assert_eq!(s.written, 13);
        assert_eq!(s.batches, 2);
        assert_eq!(s.last_batch_size, 4);
        assert_eq!(s.last_flush, Duration::from_millis(3));
        assert_eq!(s.flush_duration_sum, Duration::from_millis(5));
        assert_eq!(s.queue_depth, 0);
        assert_eq!(s.buffer_size, 100);
    }
}
