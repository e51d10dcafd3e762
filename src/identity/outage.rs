//! What the [`super::Authenticator`] knows about the identity database's
//! health: whether it is failing, when it may next be probed, and which keys
//! are being refreshed in the background right now.
//!
//! Holds no keys and does no I/O; [`super::cache`] decides what to do with
//! it. The point is that once a lookup has failed *or timed out*, requests
//! stop waiting on the database until a background probe finds it answering
//! again.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A key's SHA-256, as the cache keys its entries.
pub(super) type Digest = [u8; 32];

/// The database's state as seen by the lookups made so far.
pub(super) struct DbState {
    /// Set by a failed or timed-out lookup, cleared by one that answered.
    failing: AtomicBool,
    /// Reference point of `next_probe_ms`.
    born: Instant,
    /// Milliseconds after `born` before which no probe is started.
    next_probe_ms: AtomicU64,
    backoff: Duration,
    /// Keys with a background lookup under way (one at a time per key).
    refreshing: Mutex<HashSet<Digest>>,
}

impl DbState {
    pub(super) fn new(backoff: Duration) -> Self {
        Self {
            failing: AtomicBool::new(false),
            born: Instant::now(),
            next_probe_ms: AtomicU64::new(0),
            backoff,
            refreshing: Mutex::new(HashSet::new()),
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether the last lookup that finished failed or timed out.
    pub(super) fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// Whether the back-off after a failure is still running.
    #[cfg(test)]
    pub(super) fn in_backoff(&self) -> bool {
        self.elapsed_ms() < self.next_probe_ms.load(Ordering::Relaxed)
    }

    /// Records a failed or timed-out lookup; true when this one started
    /// the outage (so the caller logs it once, not once per request).
    pub(super) fn failed(&self) -> bool {
        let until = self
            .elapsed_ms()
            .saturating_add(u64::try_from(self.backoff.as_millis()).unwrap_or(u64::MAX));
        self.next_probe_ms.store(until, Ordering::Relaxed);
        !self.failing.swap(true, Ordering::Relaxed)
    }

    /// Records a lookup that answered; true when this one ended an outage.
    pub(super) fn answered(&self) -> bool {
        self.failing.swap(false, Ordering::Relaxed)
    }

    /// Claims the one probe allowed per back-off period while failing:
    /// true for exactly one caller once the back-off has run out.
    pub(super) fn claim_probe(&self) -> bool {
        let now = self.elapsed_ms();
        let due = self.next_probe_ms.load(Ordering::Relaxed);
        if now < due {
            return false;
        }
        let until = now.saturating_add(u64::try_from(self.backoff.as_millis()).unwrap_or(u64::MAX));
        self.next_probe_ms
            .compare_exchange(due, until, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Marks `digest` as being refreshed; false when it already is.
    pub(super) fn start_refresh(&self, digest: Digest) -> bool {
        self.refreshing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest)
    }

    pub(super) fn end_refresh(&self, digest: &Digest) {
        self.refreshing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_probe_per_backoff_and_failing_until_answered() {
        let s = DbState::new(Duration::from_secs(60));
        assert!(!s.failing());
        assert!(s.claim_probe(), "no back-off yet");
        assert!(s.failed(), "the first failure starts the outage");
        assert!(!s.failed(), "later ones do not");
        assert!(s.failing() && s.in_backoff());
        assert!(!s.claim_probe(), "inside the back-off");
        assert!(s.answered());
        assert!(!s.failing());
        assert!(!s.answered());
    }

    #[test]
    fn a_zero_backoff_lets_one_probe_through_per_claim() {
        let s = DbState::new(Duration::ZERO);
        s.failed();
        assert!(s.claim_probe());
        assert!(s.start_refresh([1; 32]));
        assert!(!s.start_refresh([1; 32]), "one refresh per key at a time");
        s.end_refresh(&[1; 32]);
        assert!(s.start_refresh([1; 32]));
    }
}
