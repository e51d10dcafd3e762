//! The [`Authenticator`]: the gateway's per-request key check, served from
//! memory so the hot path does no database I/O on a hit.
//!
//! Found keys are cached for the configured TTL (a revocation or a disabled
//! user takes effect within it); unknown keys for at most
//! [`NEGATIVE_TTL`], in a separate, smaller map so a flood of bad keys can
//! neither hammer the database with repeats nor push good keys out. When a
//! refresh fails (the database is unreachable) a stale found entry is served
//! as it was, and an uncached key is [`AuthError::Unavailable`].
//!
//! After a failed lookup the database is left alone for [`OUTAGE_BACKOFF`]:
//! requests in that window are answered from the cache (or refused as
//! unavailable) at once instead of each waiting out a connect timeout; and
//! a request holding a stale entry waits at most [`STALE_REFRESH_TIMEOUT`].
//!
//! Concurrent misses for one key each query the database (no single-flight);
//! with a TTL of seconds that is a handful of queries per key per TTL.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::auth::{AuthError, Principal, decide};
use super::keys::key_digest;
use super::records::KeyRecord;
use super::store;
use crate::config::AuthConfig;
use crate::db::{Db, now_us};

/// Longest time an unknown key is remembered as unknown (shorter when the
/// TTL is), so a key created just after a failed attempt works soon.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(1);

/// How long after a failed lookup the database is not asked again.
pub const OUTAGE_BACKOFF: Duration = Duration::from_secs(1);

/// Longest wait for the database when a stale entry could answer instead
/// (a slow database delays such requests by at most this; it does not
/// trigger [`OUTAGE_BACKOFF`], which only a failed lookup does).
pub const STALE_REFRESH_TIMEOUT: Duration = Duration::from_millis(250);

/// Shards, each behind its own lock, so readers on many cores rarely meet.
const SHARDS: usize = 16;
/// Found keys kept, over all shards.
const MAX_FOUND: usize = 100_000;
/// Unknown keys kept, over all shards.
const MAX_UNKNOWN: usize = 16_384;

type Digest = [u8; 32];

#[derive(Default)]
struct Shard {
    found: HashMap<Digest, (KeyRecord, Instant)>,
    unknown: HashMap<Digest, Instant>,
}

struct Inner {
    db: Db,
    ttl: Duration,
    negative_ttl: Duration,
    shards: Vec<RwLock<Shard>>,
    found_per_shard: usize,
    unknown_per_shard: usize,
    /// Reference point of `down_until_ms`.
    born: Instant,
    /// Milliseconds after `born` before which the database is not asked.
    down_until_ms: AtomicU64,
}

/// Checks presented API keys against the identity database, through a
/// bounded in-memory cache. Cloning shares the cache.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("ttl", &self.inner.ttl)
            .field("cached", &self.cached_entries())
            .finish()
    }
}

enum Cached {
    Fresh(Result<Principal, AuthError>),
    Stale(KeyRecord),
    Absent,
}

impl Authenticator {
    /// An authenticator whose found entries live for `ttl`, holding at most
    /// 100 000 found and 16 384 unknown keys.
    pub fn new(db: Db, ttl: Duration) -> Self {
        Self::with_capacity(db, ttl, MAX_FOUND, MAX_UNKNOWN)
    }

    /// As [`Authenticator::new`], with other bounds on the entries kept
    /// (found keys, unknown keys); each is rounded up to a multiple of 16.
    pub fn with_capacity(db: Db, ttl: Duration, max_found: usize, max_unknown: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                ttl,
                negative_ttl: ttl.min(NEGATIVE_TTL),
                shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
                found_per_shard: max_found.div_ceil(SHARDS).max(1),
                unknown_per_shard: max_unknown.div_ceil(SHARDS).max(1),
                born: Instant::now(),
                down_until_ms: AtomicU64::new(0),
            }),
        }
    }

    /// An authenticator with the TTL of `[auth] cache_ttl_ms`.
    pub fn from_config(db: Db, auth: &AuthConfig) -> Self {
        Self::new(db, Duration::from_millis(auth.cache_ttl_ms))
    }

    /// Decides on the key a request's headers present (see
    /// [`super::presented_key`]); none is [`AuthError::Missing`].
    pub async fn authenticate_headers(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<Principal, AuthError> {
        match super::presented_key(headers) {
            Some(key) => self.authenticate(key).await,
            None => Err(AuthError::Missing),
        }
    }

    /// Decides on a presented key (empty: [`AuthError::Missing`]).
    pub async fn authenticate(&self, presented_key: &str) -> Result<Principal, AuthError> {
        if presented_key.is_empty() {
            return Err(AuthError::Missing);
        }
        let digest = key_digest(presented_key);
        let stale = match self.lookup_cached(&digest) {
            Cached::Fresh(outcome) => return outcome,
            Cached::Stale(record) => Some(record),
            Cached::Absent => None,
        };
        let looked_up = if self.in_backoff() {
            Err("backing off after a failed lookup".to_string())
        } else {
            let key_hash = hex::encode(digest);
            let lookup = store::lookup_by_hash(&self.inner.db, &key_hash);
            // A stale entry is an answer already: don't let a hung database
            // hold the request for a whole connect timeout.
            let result = match stale {
                Some(_) => tokio::time::timeout(STALE_REFRESH_TIMEOUT, lookup)
                    .await
                    .map_err(|_| "the identity database did not answer in time".to_string()),
                None => Ok(lookup.await),
            };
            match result {
                Ok(Ok(found)) => Ok(found),
                Ok(Err(e)) => {
                    // Logged once per backoff period, not once per request.
                    tracing::warn!(error = %e, backoff = ?OUTAGE_BACKOFF,
                        "identity lookup failed; serving cached keys, refusing uncached ones");
                    self.back_off();
                    Err(e.to_string())
                }
                Err(timed_out) => Err(timed_out),
            }
        };
        match looked_up {
            Ok(Some(record)) => {
                let outcome = decide(&record, now_us());
                self.insert_found(digest, record);
                outcome
            }
            Ok(None) => {
                self.insert_unknown(digest);
                Err(AuthError::Invalid)
            }
            Err(error) => match stale {
                Some(record) => {
                    tracing::debug!(%error, "serving a cached key without the database");
                    decide(&record, now_us())
                }
                None => {
                    tracing::debug!(%error, "refusing an uncached key without the database");
                    Err(AuthError::Unavailable)
                }
            },
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.inner.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn in_backoff(&self) -> bool {
        self.elapsed_ms() < self.inner.down_until_ms.load(Ordering::Relaxed)
    }

    fn back_off(&self) {
        let until = self
            .elapsed_ms()
            .saturating_add(OUTAGE_BACKOFF.as_millis() as u64);
        self.inner.down_until_ms.store(until, Ordering::Relaxed);
    }

    /// Entries held (found and unknown), for metrics and tests.
    pub fn cached_entries(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| {
                let s = s.read().unwrap_or_else(|p| p.into_inner());
                s.found.len() + s.unknown.len()
            })
            .sum()
    }

    /// Forgets everything (e.g. after an administrative change made here).
    pub fn clear(&self) {
        for s in &self.inner.shards {
            *s.write().unwrap_or_else(|p| p.into_inner()) = Shard::default();
        }
    }

    fn shard(&self, digest: &Digest) -> &RwLock<Shard> {
        &self.inner.shards[usize::from(digest[0]) % SHARDS]
    }

    fn lookup_cached(&self, digest: &Digest) -> Cached {
        let shard = self.shard(digest).read().unwrap_or_else(|p| p.into_inner());
        if let Some((record, at)) = shard.found.get(digest) {
            if at.elapsed() < self.inner.ttl {
                return Cached::Fresh(decide(record, now_us()));
            }
            return Cached::Stale(record.clone());
        }
        match shard.unknown.get(digest) {
            Some(at) if at.elapsed() < self.inner.negative_ttl => {
                Cached::Fresh(Err(AuthError::Invalid))
            }
            _ => Cached::Absent,
        }
    }

    fn insert_found(&self, digest: Digest, record: KeyRecord) {
        let ttl = self.inner.ttl;
        let mut shard = self
            .shard(&digest)
            .write()
            .unwrap_or_else(|p| p.into_inner());
        shard.unknown.remove(&digest);
        let cap = self.inner.found_per_shard;
        if shard.found.len() >= cap && !shard.found.contains_key(&digest) {
            // Expired entries go first; they are only worth keeping for an
            // outage, and live ones matter more.
            shard.found.retain(|_, (_, at)| at.elapsed() < ttl);
            if shard.found.len() >= cap {
                // Still full of live keys: drop the oldest eighth at once,
                // so this scan is paid once per cap/8 inserts.
                let mut ages: Vec<(Instant, Digest)> =
                    shard.found.iter().map(|(d, (_, at))| (*at, *d)).collect();
                let n = (cap / 8).clamp(1, ages.len());
                ages.select_nth_unstable(n - 1);
                for (_, d) in &ages[..n] {
                    shard.found.remove(d);
                }
            }
        }
        shard.found.insert(digest, (record, Instant::now()));
    }

    fn insert_unknown(&self, digest: Digest) {
        let ttl = self.inner.negative_ttl;
        let mut shard = self
            .shard(&digest)
            .write()
            .unwrap_or_else(|p| p.into_inner());
        shard.found.remove(&digest);
        let cap = self.inner.unknown_per_shard;
        if shard.unknown.len() >= cap {
            shard.unknown.retain(|_, at| at.elapsed() < ttl);
            if shard.unknown.len() >= cap {
                // A flood of distinct bad keys: forgetting them all is cheap
                // and bounded; each is one more query at worst.
                shard.unknown.clear();
            }
        }
        shard.unknown.insert(digest, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database that has no identity tables: every lookup fails, as in
    /// an outage, without any server.
    fn broken_db() -> Db {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .connect_lazy("sqlite::memory:")
            .expect("an in-memory SQLite URL parses");
        Db::Sqlite(pool)
    }

    fn record(key_id: i64) -> KeyRecord {
        KeyRecord {
            key_id,
            user_id: 1,
            user_name: "alice".into(),
            user_disabled: false,
            expires_at_us: None,
            revoked_at_us: None,
            rps: None,
            burst: None,
            tokens_per_minute: None,
        }
    }

    fn digest(i: u32) -> Digest {
        key_digest(&format!("tok_{i}"))
    }

    #[tokio::test]
    async fn a_hit_needs_no_database_and_a_miss_without_one_is_unavailable() {
        let auth = Authenticator::new(broken_db(), Duration::from_secs(60));
        auth.insert_found(key_digest("tok_cached"), record(7));
        let p = auth.authenticate("tok_cached").await.map(|p| p.key_id);
        assert_eq!(p, Ok(7));
        assert_eq!(
            auth.authenticate("tok_other").await,
            Err(AuthError::Unavailable)
        );
        assert!(auth.in_backoff(), "a failed lookup starts the backoff");
        assert_eq!(
            auth.authenticate("tok_third").await,
            Err(AuthError::Unavailable)
        );
        assert_eq!(auth.authenticate("").await, Err(AuthError::Missing));
        let mut headers = http::HeaderMap::new();
        assert_eq!(
            auth.authenticate_headers(&headers).await,
            Err(AuthError::Missing)
        );
        headers.insert("x-api-key", http::HeaderValue::from_static("tok_cached"));
        let p = auth.authenticate_headers(&headers).await.map(|p| p.key_id);
        assert_eq!(p, Ok(7));
    }

    #[tokio::test]
    async fn found_entries_are_bounded() {
        let auth = Authenticator::with_capacity(broken_db(), Duration::from_secs(60), 64, 16);
        for i in 0..2_000 {
            auth.insert_found(digest(i), record(i64::from(i)));
        }
        assert!(auth.cached_entries() <= 64, "{}", auth.cached_entries());
        // The newest entry survives eviction.
        assert!(matches!(
            auth.lookup_cached(&digest(1_999)),
            Cached::Fresh(Ok(_))
        ));
    }

    #[tokio::test]
    async fn unknown_entries_are_bounded_and_apart_from_found_ones() {
        let auth = Authenticator::with_capacity(broken_db(), Duration::from_secs(60), 64, 32);
        auth.insert_found(digest(0), record(0));
        for i in 1..5_000 {
            auth.insert_unknown(digest(i));
        }
        assert!(auth.cached_entries() <= 1 + 32, "{}", auth.cached_entries());
        assert!(matches!(
            auth.lookup_cached(&digest(0)),
            Cached::Fresh(Ok(_))
        ));
        auth.clear();
        assert_eq!(auth.cached_entries(), 0);
    }
}
