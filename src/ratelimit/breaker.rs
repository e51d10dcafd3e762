//! The circuit breaker in front of the Redis store, and the limits that
//! apply while it is open.
//!
//! After `redis_breaker_failures` Redis calls in a row have failed or run
//! out of `redis_timeout_ms`, the breaker opens: checks skip Redis and take
//! from each instance's own memory store, with every rate and burst divided
//! by `rate_limit.expected_instances` (so N gateways together stay near the
//! one limit), at the cost of a memory lookup instead of a network wait.
//! While open, one background `PING` per `redis_breaker_backoff_ms` probes
//! Redis; the first that answers closes the breaker and the shared limits
//! apply again. Opening and closing are logged once each; skipped checks
//! are counted, not logged.
//!
//! Holds the breaker's state, the share's arithmetic, and the
//! [`RateLimiter`] steps that use them (bounded calls, local checks,
//! probes); the buckets themselves are in the stores.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::bucket::Limit;
use super::{RateLimitError, RateLimiter, Store, Verdict, Want};

/// Whether Redis is being skipped, and when it may next be probed.
pub(super) struct Breaker {
    threshold: u32,
    backoff: Duration,
    /// Failed calls since the last one that succeeded.
    failures: AtomicU32,
    open: AtomicBool,
    /// Reference point of `next_probe_ms`.
    born: Instant,
    next_probe_ms: AtomicU64,
}

impl Breaker {
    /// A closed breaker that opens after `threshold` failures in a row
    /// (at least 1) and probes every `backoff` while open.
    pub(super) fn new(threshold: u32, backoff: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            backoff,
            failures: AtomicU32::new(0),
            open: AtomicBool::new(false),
            born: Instant::now(),
            next_probe_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn backoff_ms(&self) -> u64 {
        u64::try_from(self.backoff.as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether Redis is skipped right now.
    pub(super) fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    /// A call that succeeded.
    pub(super) fn succeeded(&self) {
        self.failures.store(0, Ordering::Relaxed);
    }

    /// A call that failed or timed out; true when this one opened the
    /// breaker (the caller logs that once).
    pub(super) fn failed(&self) -> bool {
        let n = self
            .failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if n < self.threshold {
            return false;
        }
        let opened = !self.open.swap(true, Ordering::Relaxed);
        if opened {
            self.next_probe_ms.store(
                self.now_ms().saturating_add(self.backoff_ms()),
                Ordering::Relaxed,
            );
        }
        opened
    }

    /// While open: true for exactly one caller per back-off period, who
    /// then probes Redis.
    pub(super) fn claim_probe(&self) -> bool {
        let now = self.now_ms();
        let due = self.next_probe_ms.load(Ordering::Relaxed);
        now >= due
            && self
                .next_probe_ms
                .compare_exchange(
                    due,
                    now.saturating_add(self.backoff_ms()),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// A probe answered: Redis is used again. True when it was open.
    pub(super) fn close(&self) -> bool {
        self.failures.store(0, Ordering::Relaxed);
        self.open.swap(false, Ordering::Relaxed)
    }
}

impl RateLimiter {
    /// While Redis is skipped: this instance's share of every limit, from
    /// memory; and, once per back-off, a background probe of Redis.
    pub(super) fn check_locally(&self, wants: &[Want]) -> Verdict {
        self.probe();
        self.inner
            .counters
            .store_skipped
            .fetch_add(1, Ordering::Relaxed);
        let local = local_share(wants, self.inner.cfg.expected_instances);
        let checks = self.inner.fallback.check(&local);
        let mut v = self.verdict(&local, &checks);
        v.store_skipped = true;
        v
    }

    /// One Redis call within `redis_timeout_ms`; its outcome feeds the
    /// breaker.
    pub(super) async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, RateLimitError>>,
    ) -> Result<T, RateLimitError> {
        let limit = Duration::from_millis(self.inner.cfg.redis_timeout_ms);
        let result = match tokio::time::timeout(limit, call).await {
            Ok(r) => r,
            Err(_) => Err(RateLimitError::Store(format!(
                "Redis did not answer within {} ms (rate_limit.redis_timeout_ms)",
                limit.as_millis()
            ))),
        };
        match &result {
            Ok(_) => self.inner.breaker.succeeded(),
            Err(e) => {
                if self.inner.breaker.failed() {
                    tracing::warn!(error = %e,
                        failures = self.inner.cfg.redis_breaker_failures,
                        expected_instances = self.inner.cfg.expected_instances,
                        "Redis failed repeatedly; skipping it: each instance enforces its share of the limits from memory until a probe finds Redis answering");
                }
            }
        }
        result
    }

    /// Starts the back-off period's one PING, on a task of its own.
    pub(super) fn probe(&self) {
        let Store::Redis(_) = &self.inner.store else {
            return;
        };
        if !self.inner.breaker.claim_probe() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let Store::Redis(r) = &this.inner.store else {
                return;
            };
            let limit = Duration::from_millis(this.inner.cfg.redis_timeout_ms);
            match tokio::time::timeout(limit, r.ping()).await {
                Ok(Ok(_)) => {
                    if this.inner.breaker.close() {
                        tracing::info!("Redis answers again; the shared limits apply again");
                    }
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "Redis probe failed; still skipping it"),
                Err(_) => tracing::debug!("Redis probe timed out; still skipping it"),
            }
        });
    }
}

/// One instance's share of a limit: rate and burst divided by the number
/// of instances expected to share it (a burst of at least 1, so a request
/// can still pass), a request's cost capped at that burst.
pub(super) fn local_share(wants: &[Want], instances: u32) -> Vec<Want> {
    let n = f64::from(instances.max(1));
    wants
        .iter()
        .map(|w| {
            let burst = (w.limit.burst / n).max(1.0);
            Want {
                key: w.key,
                limit: Limit {
                    rate: w.limit.rate / n,
                    burst,
                },
                cost: w.cost.min(burst),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::Scope;
    use super::*;

    #[test]
    fn opens_after_threshold_failures_in_a_row_and_probes_once_per_backoff() {
        let b = Breaker::new(3, Duration::from_secs(60));
        assert!(!b.failed());
        b.succeeded();
        assert!(!b.failed());
        assert!(!b.failed());
        assert!(!b.is_open(), "a success in between resets the count");
        assert!(b.failed(), "the third in a row opens it");
        assert!(b.is_open());
        assert!(!b.failed(), "already open: not opened again");
        assert!(!b.claim_probe(), "the back-off runs first");
        assert!(b.close());
        assert!(!b.is_open() && !b.close());
    }

    #[test]
    fn a_zero_backoff_probes_at_once() {
        let b = Breaker::new(1, Duration::ZERO);
        assert!(b.failed());
        assert!(b.claim_probe());
    }

    #[test]
    fn each_instance_takes_its_share() {
        let want = |rate, burst, cost| Want {
            key: (Scope::ApiKey, 1),
            limit: Limit { rate, burst },
            cost,
        };
        let local = local_share(&[want(10.0, 20.0, 1.0), want(1.0, 1.0, 1.0)], 4);
        assert_eq!((local[0].limit.rate, local[0].limit.burst), (2.5, 5.0));
        assert_eq!(local[1].limit.burst, 1.0, "a burst never goes below 1");
        let tokens = local_share(&[want(100.0, 6000.0, 5000.0)], 2);
        assert_eq!(tokens[0].cost, 3000.0, "a cost is capped at the share");
        let same = local_share(&[want(10.0, 20.0, 1.0)], 1);
        assert_eq!(same[0].limit.burst, 20.0);
    }
}
