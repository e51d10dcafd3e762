//! Rate limits: token buckets per user and per API key (requests), and a
//! tokens-per-minute bucket per key, in memory or in Redis.
//!
//! Every check looks at all the buckets of a request at once and takes from
//! them only when all allow it; the most restrictive one is reported in the
//! `X-RateLimit-*` headers. Tokens per minute are reserved at admission from
//! an estimate (prompt bytes / 4 + `max_tokens`) and settled to the real
//! usage when the response is done, so concurrent requests cannot overshoot
//! by more than what is in flight. When the store fails, requests are
//! admitted (`fail_open = true`, the default) or refused, and the failure is
//! counted and logged at most once a second.
//!
//! Redis calls on the request path are bounded by `redis_timeout_ms`, and a
//! [`breaker`] skips Redis after repeated failures: the request then pays a
//! memory lookup, not a network timeout, and each instance enforces its
//! share of the limits until Redis answers again.

mod breaker;
pub mod bucket;
mod health;
mod memory;
mod reconcile;
mod redis_spend;
mod redis_store;
mod spend;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use breaker::Breaker;
use bucket::{Check, Limit};
use memory::MemoryStore;
use redis_store::RedisStore;

use crate::config::RateLimitConfig;
use crate::identity::Principal;
pub use reconcile::Drift;
pub use spend::{Spend, SpendSetup, Ticket};

/// Which limit a bucket enforces; also the `X-RateLimit-Type` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    User,
    ApiKey,
    Tokens,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::ApiKey => "apikey",
            Scope::Tokens => "tokens",
        }
    }
}

/// A bucket's identity: its scope and the user or key id.
pub type BucketKey = (Scope, i64);

/// One bucket a request needs tokens from.
#[derive(Debug, Clone, Copy)]
pub struct Want {
    pub key: BucketKey,
    pub limit: Limit,
    pub cost: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    #[error("rate-limit store failed: {0}")]
    Store(String),
}

/// Tokens taken from a key's tokens-per-minute bucket when its request
/// was admitted (an estimate), settled to the real usage at its end by
/// [`RateLimiter::settle`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenReservation {
    pub key_id: i64,
    /// The bucket's limit, so the settlement adjusts the same bucket.
    pub limit: Limit,
    pub tokens: f64,
}

/// The outcome for a request, with the binding limit for the headers.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    pub allowed: bool,
    pub scope: Scope,
    pub limit: f64,
    pub remaining: f64,
    pub reset_s: f64,
    pub retry_after_s: f64,
    /// Tokens reserved for the tokens-per-minute limit, to settle later.
    pub reserved_tokens: Option<TokenReservation>,
    /// The store failed and the request was let through (fail open).
    pub store_failed: bool,
    /// Redis was skipped (breaker open): this instance's share decided.
    pub store_skipped: bool,
}

enum Store {
    Memory(MemoryStore),
    // Boxed: the connection and its scripts are much larger than the map.
    Redis(Box<RedisStore>),
}

/// Counters for metrics and tests.
#[derive(Debug, Default)]
pub struct Counters {
    pub refused_user: AtomicU64,
    pub refused_apikey: AtomicU64,
    pub refused_tokens: AtomicU64,
    pub store_failures: AtomicU64,
    /// Checks answered from the fallback store while Redis was skipped.
    pub store_skipped: AtomicU64,
    /// Budget admissions decided from this process's view, Redis failing
    /// (`budgets.on_store_failure = local`).
    pub budget_local: AtomicU64,
    /// Requests with budgets refused because Redis failed (`refuse`).
    pub budget_refused_store: AtomicU64,
    /// Times this gateway found Redis's budget state gone and rebuilt it.
    pub budget_rebuilds: AtomicU64,
}

/// The limiter the gateway holds; cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// With Redis: the buckets used while the breaker skips it.
    fallback: MemoryStore,
    breaker: Breaker,
    cfg: RateLimitConfig,
    counters: Counters,
    last_warn: Mutex<Option<Instant>>,
    /// Budgets: this process's tally and what rebuilds Redis's.
    spend: spend::SpendState,
}

impl RateLimiter {
    /// Builds the store named by the config: Redis when `redis_addr` is set.
    pub async fn new(cfg: &RateLimitConfig) -> Result<Self, RateLimitError> {
        Self::build(cfg, SpendSetup::default()).await
    }

    /// [`RateLimiter::new`] with the budgets' settings. The limits apply
    /// only when `cfg.enabled`; budgets always do, so a gateway with auth
    /// builds a limiter even with the limits off.
    pub async fn build(cfg: &RateLimitConfig, setup: SpendSetup) -> Result<Self, RateLimitError> {
        let store = if cfg.redis_addr.is_empty() {
            Store::Memory(MemoryStore::new())
        } else {
            Store::Redis(Box::new(RedisStore::connect(&cfg.redis_addr).await?))
        };
        let limiter = Self {
            inner: Arc::new(Inner {
                store,
                fallback: MemoryStore::new(),
                breaker: Breaker::new(
                    cfg.redis_breaker_failures,
                    Duration::from_millis(cfg.redis_breaker_backoff_ms),
                ),
                cfg: cfg.clone(),
                counters: Counters::default(),
                last_warn: Mutex::new(None),
                spend: spend::SpendState::new(setup),
            }),
        };
        limiter.spawn_epoch_watch();
        let weak = Arc::downgrade(&limiter.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(30)).await;
                let Some(inner) = weak.upgrade() else { break };
                let _ = match &inner.store {
                    Store::Memory(m) => m.sweep(),
                    Store::Redis(_) => inner.fallback.sweep(),
                };
            }
        });
        Ok(limiter)
    }

    pub fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// Buckets held by the memory store (`None` for Redis).
    pub fn memory_buckets(&self) -> Option<usize> {
        match &self.inner.store {
            Store::Memory(m) => Some(m.len()),
            Store::Redis(_) => None,
        }
    }

    /// Pings the Redis store (`None` for the memory store, which cannot
    /// fail), whether or not the breaker skips it: health tells the truth.
    pub async fn ping(&self) -> Option<Result<Duration, RateLimitError>> {
        match &self.inner.store {
            Store::Memory(_) => None,
            Store::Redis(r) => Some(r.ping().await),
        }
    }

    /// Whether requests are admitted when the store fails.
    pub fn fail_open(&self) -> bool {
        self.inner.cfg.fail_open
    }

    pub fn store_name(&self) -> &'static str {
        match self.inner.store {
            Store::Memory(_) => "memory",
            Store::Redis(_) => "redis",
        }
    }

    /// Buckets a principal's request needs. A rate of 0 means no limit.
    pub fn wants(&self, p: &Principal, token_estimate: Option<u64>) -> Vec<Want> {
        let c = &self.inner.cfg;
        if !c.enabled {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(3);
        if c.user_rps > 0.0 {
            out.push(Want {
                key: (Scope::User, p.user_id),
                limit: Limit {
                    rate: c.user_rps,
                    burst: f64::from(c.user_burst.max(1)),
                },
                cost: 1.0,
            });
        }
        let key_rps = p.rps.unwrap_or(c.apikey_rps);
        if key_rps > 0.0 {
            let burst = p
                .burst
                .map_or(f64::from(c.apikey_burst.max(1)), |b| f64::from(b.max(1)));
            out.push(Want {
                key: (Scope::ApiKey, p.key_id),
                limit: Limit {
                    rate: key_rps,
                    burst,
                },
                cost: 1.0,
            });
        }
        if let (Some(tpm), Some(estimate)) = (self.tokens_per_minute(p), token_estimate) {
            let burst = tpm as f64;
            out.push(Want {
                key: (Scope::Tokens, p.key_id),
                limit: Limit {
                    rate: burst / 60.0,
                    burst,
                },
                // A single request larger than the whole minute's budget could
                // never pass; cap it at the budget so it waits instead.
                cost: (estimate as f64).min(burst),
            });
        }
        out
    }

    /// The key's tokens-per-minute limit, when one applies.
    pub fn tokens_per_minute(&self, p: &Principal) -> Option<u64> {
        if !self.inner.cfg.enabled {
            return None;
        }
        let v = p
            .tokens_per_minute
            .unwrap_or(self.inner.cfg.apikey_tokens_per_minute as i64);
        (v > 0).then_some(v as u64)
    }

    /// Checks and takes, atomically across the request's buckets.
    pub async fn check(&self, p: &Principal, token_estimate: Option<u64>) -> Verdict {
        let wants = self.wants(p, token_estimate);
        if wants.is_empty() {
            return Verdict::unlimited();
        }
        let checks = match &self.inner.store {
            Store::Memory(m) => Ok(m.check(&wants)),
            Store::Redis(_) if self.inner.breaker.is_open() => return self.check_locally(&wants),
            Store::Redis(r) => self.bounded(r.check(&wants)).await,
        };
        match checks {
            Ok(checks) => self.verdict(&wants, &checks),
            Err(e) => self.store_failed(e),
        }
    }

    /// Settles a tokens-per-minute reservation to the real usage: refunds
    /// what was reserved and not used, charges what was used beyond it.
    pub async fn settle(&self, reserved: TokenReservation, actual_tokens: u64) {
        let TokenReservation {
            key_id,
            limit,
            tokens: reserved,
        } = reserved;
        let delta = reserved - actual_tokens as f64;
        if delta.abs() < f64::EPSILON {
            return;
        }
        let key = (Scope::Tokens, key_id);
        // A reservation made from the fallback and settled after Redis came
        // back goes to Redis with the share's limit: its burst caps that
        // bucket for one refill at worst.
        let result = match &self.inner.store {
            Store::Memory(m) => {
                m.adjust(key, limit, delta);
                Ok(())
            }
            Store::Redis(_) if self.inner.breaker.is_open() => {
                self.inner.fallback.adjust(key, limit, delta);
                Ok(())
            }
            Store::Redis(r) => self.bounded(r.adjust(key, limit, delta)).await,
        };
        if let Err(e) = result {
            self.store_failed(e);
        }
    }

    fn verdict(&self, wants: &[Want], checks: &[Check]) -> Verdict {
        let allowed = checks.iter().all(|c| c.allowed);
        // Refused: the bucket that makes the client wait longest. Allowed:
        // the one with the least headroom.
        let pick = (0..wants.len())
            .max_by(|&a, &b| {
                if allowed {
                    let ra = checks[a].remaining / wants[a].limit.burst;
                    let rb = checks[b].remaining / wants[b].limit.burst;
                    rb.total_cmp(&ra)
                } else {
                    let (ca, cb) = (&checks[a], &checks[b]);
                    (!ca.allowed, ca.retry_after_s)
                        .partial_cmp(&(!cb.allowed, cb.retry_after_s))
                        .unwrap_or(std::cmp::Ordering::Equal)
                }
            })
            .unwrap_or(0);
        let (w, c) = (&wants[pick], &checks[pick]);
        if !allowed {
            let counter = match w.key.0 {
                Scope::User => &self.inner.counters.refused_user,
                Scope::ApiKey => &self.inner.counters.refused_apikey,
                Scope::Tokens => &self.inner.counters.refused_tokens,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let reserved_tokens = if allowed {
            wants
                .iter()
                .find(|w| w.key.0 == Scope::Tokens)
                .map(|w| TokenReservation {
                    key_id: w.key.1,
                    limit: w.limit,
                    tokens: w.cost,
                })
        } else {
            None
        };
        Verdict {
            allowed,
            scope: w.key.0,
            limit: w.limit.burst,
            remaining: c.remaining,
            reset_s: c.reset_s,
            retry_after_s: c.retry_after_s,
            reserved_tokens,
            store_failed: false,
            store_skipped: false,
        }
    }

    fn store_failed(&self, e: RateLimitError) -> Verdict {
        self.inner
            .counters
            .store_failures
            .fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        if let Ok(mut last) = self.inner.last_warn.lock()
            && last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            *last = Some(now);
            tracing::warn!(error = %e, fail_open = self.inner.cfg.fail_open, "rate-limit store failed");
        }
        let mut v = Verdict::unlimited();
        v.store_failed = true;
        v.allowed = self.inner.cfg.fail_open;
        v.retry_after_s = 1.0;
        v
    }
}

impl Verdict {
    fn unlimited() -> Self {
        Self {
            allowed: true,
            scope: Scope::ApiKey,
            limit: 0.0,
            remaining: 0.0,
            reset_s: 0.0,
            retry_after_s: 0.0,
            reserved_tokens: None,
            store_failed: false,
            store_skipped: false,
        }
    }

    /// Whether the verdict carries limit figures worth sending as headers.
    pub fn has_limits(&self) -> bool {
        self.limit > 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn distinct_principals_keep_their_own_buckets() {
        let cfg = RateLimitConfig {
            enabled: true,
            user_rps: 0.001,
            user_burst: 1000,
            apikey_rps: 0.001,
            apikey_burst: 1000,
            ..Default::default()
        };
        let l = RateLimiter::new(&cfg).await.expect("memory store");
        for i in 0..200_000 {
            let p = Principal {
                user_id: i,
                user_name: String::new(),
                key_id: i,
                rps: None,
                burst: None,
                tokens_per_minute: None,
                ..Principal::default()
            };
            assert!(l.check(&p, None).await.allowed);
        }
        assert_eq!(l.memory_buckets(), Some(400_000));
    }
}
