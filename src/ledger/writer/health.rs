//! The ledger writer's health, from its stats: what an operator needs to
//! act on (the backlog's size and age, spool bytes, why new requests are
//! refused or the ledger is not written), and `/readyz` (whether it takes
//! entries). [`crate::telemetry::health::Health`] gathers it with the
//! other components.

use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::LedgerWriter;
use super::stats::WriterStats;
use crate::telemetry::health::{Component, HealthCheck, Status};

/// The backlog's age past which the ledger writer is degraded: the database
/// is down or too slow, and entries wait in the spool (or the buffer).
pub const MAX_BACKLOG_AGE: Duration = Duration::from_secs(5);

impl HealthCheck for LedgerWriter {
    fn check(&self) -> BoxFuture<'_, Vec<Component>> {
        let (status, message) = writer_status(&self.stats(), self.accepts_entries());
        let c = Component {
            name: "ledger_writer".into(),
            kind: "writer".into(),
            status,
            message,
            latency_ms: None,
        };
        async move { vec![c] }.boxed()
    }

    fn ready(&self) -> bool {
        self.accepts_entries()
    }
}

/// The writer's status from its stats: degraded when entries wait too long
/// for the database (spool) or the buffer is nearly full, with the numbers
/// an operator needs (backlog size and age, spool bytes).
fn writer_status(s: &WriterStats, accepts: bool) -> (Status, String) {
    if !accepts && s.buffer_size == 0 {
        return (Status::Unhealthy, "the writer is shut down".to_string());
    }
    if s.buffer_size == 0 {
        return (
            Status::Healthy,
            "inline writes (ledger.async.enabled = false)".to_string(),
        );
    }
    if let Some(why) = s.spool_refusal {
        return (
            Status::Unhealthy,
            format!(
                "{why}: new requests are refused with 503 ledger_unavailable ({} so far); \
                 space returns as the database takes the backlog",
                s.refused
            ),
        );
    }
    if s.watermark_stuck_for >= super::STUCK_AFTER {
        return (
            Status::Unhealthy,
            format!(
                "the chain's committed watermark has stayed at {} for {} s while entries were \
                 written (backlog {}): the entry numbered {} is not one this gateway can account \
                 for (forged, or written by another gateway with the same instance id); run \
                 `tokctl ledger verify`",
                s.watermark,
                s.watermark_stuck_for.as_secs(),
                s.backlog(),
                s.watermark + 1
            ),
        );
    }
    if let Some((why, for_good)) = s.opening {
        let status = if for_good {
            Status::Unhealthy
        } else {
            Status::Degraded
        };
        return (status, format!("{why}; backlog of {} entries", s.backlog()));
    }
    let mut problems = Vec::new();
    if s.spooled && s.oldest_unwritten > MAX_BACKLOG_AGE {
        problems.push(format!(
            "backlog of {} entries not yet in the database, oldest waiting {:.1} s \
             (they are safe in the spool)",
            s.backlog(),
            s.oldest_unwritten.as_secs_f64()
        ));
    }
    if s.spooled && s.spool_max_bytes > 0 && s.spool_bytes * 10 > s.spool_max_bytes * 8 {
        problems.push(format!(
            "spool {}% full ({} of {} bytes)",
            s.spool_bytes * 100 / s.spool_max_bytes,
            s.spool_bytes,
            s.spool_max_bytes
        ));
    }
    if s.queue_depth * 10 > s.buffer_size * 8 {
        problems.push(format!(
            "buffer {}% full ({} of {} entries)",
            s.queue_depth * 100 / s.buffer_size,
            s.queue_depth,
            s.buffer_size
        ));
    }
    if !problems.is_empty() {
        return (Status::Degraded, problems.join("; "));
    }
    let spool = if s.spooled {
        format!(
            "; backlog {} entries, spool {} bytes",
            s.backlog(),
            s.spool_bytes
        )
    } else {
        String::new()
    };
    (
        Status::Healthy,
        format!(
            "{} of {} buffered; {} written, {} dropped, {} dead-lettered{spool}",
            s.queue_depth, s.buffer_size, s.written, s.dropped, s.dead_lettered
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_spool_backlog_is_degraded_with_its_size_and_age() {
        let base = WriterStats {
            buffer_size: 1000,
            spooled: true,
            spool_max_bytes: 1 << 30,
            watermark: 100,
            last_seq: 100,
            ..WriterStats::default()
        };
        let (status, message) = writer_status(&base, true);
        assert_eq!(status, Status::Healthy, "{message}");
        let behind = WriterStats {
            last_seq: 5100,
            oldest_unwritten: Duration::from_secs(12),
            spool_bytes: 2_000_000,
            ..base
        };
        let (status, message) = writer_status(&behind, true);
        assert_eq!(status, Status::Degraded);
        assert!(message.contains("5000 entries"), "{message}");
        assert!(message.contains("12.0 s"), "{message}");
        let full = WriterStats {
            spool_bytes: 900 << 20,
            spool_max_bytes: 1000 << 20,
            ..base
        };
        let (status, message) = writer_status(&full, true);
        assert_eq!(status, Status::Degraded);
        assert!(message.contains("spool 90% full"), "{message}");
        // A young backlog (a batch in flight) is normal.
        let young = WriterStats {
            last_seq: 150,
            oldest_unwritten: Duration::from_millis(80),
            ..base
        };
        assert_eq!(writer_status(&young, true).0, Status::Healthy);
    }
}
