//! The [`Authenticator`]: the gateway's per-request key check, served from
//! memory so the hot path does no database I/O on a hit.
//!
//! Found keys are cached for the configured TTL (a revocation or a disabled
//! user takes effect within it); unknown keys for at most
//! [`NEGATIVE_TTL`], in a separate, smaller map so a flood of bad keys can
//! neither hammer the database with repeats nor push good keys out. A key
//! in use is looked up again in the background once three quarters of its
//! TTL have passed, so a busy key seldom goes stale and its requests never
//! wait for that lookup.
//!
//! When a lookup fails *or times out* ([`STALE_REFRESH_TIMEOUT`] when a
//! stale entry could answer, [`LOOKUP_TIMEOUT`] otherwise), the database is
//! taken as failing: from then on cached keys are served as they are (stale
//! ones included) and uncached keys are [`AuthError::Unavailable`], both at
//! once, without waiting on the database; one background lookup a
//! [`OUTAGE_BACKOFF`] probes it, and the first that answers ends the outage.
//! So at the start of an outage a request waits at most once, and never
//! again until the database has answered.
//!
//! Concurrent misses for one key each query the database (no single-flight);
//! with a TTL of seconds that is a handful of queries per key per TTL.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::auth::{AuthError, Principal, decide};
use super::keys::key_digest;
use super::outage::{DbState, Digest};
use super::records::KeyRecord;
use super::store;
use crate::config::AuthConfig;
use crate::db::{Db, now_us};

/// Longest time an unknown key is remembered as unknown (shorter when the
/// TTL is), so a key created just after a failed attempt works soon.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(1);

/// While the database is failing, how often one background lookup probes it.
pub const OUTAGE_BACKOFF: Duration = Duration::from_secs(1);

/// Longest wait for the database when a stale entry could answer instead;
/// running out of it counts as a failure (the database is then left alone
/// as after any failure), so a hung database delays one request, not each.
pub const STALE_REFRESH_TIMEOUT: Duration = Duration::from_millis(250);

/// Longest wait for any other lookup (an uncached key, a background
/// refresh): an established connection to a hung server has no timeout of
/// its own.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Shards, each behind its own lock, so readers on many cores rarely meet.
const SHARDS: usize = 16;
/// Found keys kept, over all shards.
const MAX_FOUND: usize = 100_000;
/// Unknown keys kept, over all shards.
const MAX_UNKNOWN: usize = 16_384;

#[derive(Default)]
struct Shard {
    found: HashMap<Digest, (KeyRecord, Instant)>,
    unknown: HashMap<Digest, Instant>,
}

pub(super) struct Inner {
    db: Db,
    pub(super) ttl: Duration,
    negative_ttl: Duration,
    shards: Vec<RwLock<Shard>>,
    found_per_shard: usize,
    unknown_per_shard: usize,
    pub(super) db_state: DbState,
}

/// Checks presented API keys against the identity database, through a
/// bounded in-memory cache. Cloning shares the cache.
#[derive(Clone)]
pub struct Authenticator {
    pub(super) inner: Arc<Inner>,
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
    /// Within the TTL; `true` when old enough to be refreshed ahead.
    Fresh(Result<Principal, AuthError>, bool),
    /// Boxed: a record (with its stored budget columns) is several times
    /// the size of the other variants.
    Stale(Box<KeyRecord>),
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
                db_state: DbState::new(OUTAGE_BACKOFF),
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
        match self.lookup_cached(&digest) {
            Cached::Fresh(outcome, refresh_due) => {
                if refresh_due && !self.inner.db_state.failing() {
                    self.refresh_in_background(digest);
                }
                outcome
            }
            Cached::Stale(record) => self.refresh_stale(digest, *record).await,
            Cached::Absent => self.look_up_miss(digest).await,
        }
    }

    /// A stale entry: looked up again while the database is healthy (a
    /// revocation must show within the TTL), served as it is while failing.
    async fn refresh_stale(
        &self,
        digest: Digest,
        record: KeyRecord,
    ) -> Result<Principal, AuthError> {
        if self.inner.db_state.failing() {
            self.probe(digest);
            tracing::debug!("serving a cached key without the identity database");
            return decide(&record, now_us());
        }
        match self.look_up(digest, STALE_REFRESH_TIMEOUT).await {
            Some(outcome) => outcome,
            None => decide(&record, now_us()),
        }
    }

    /// An uncached key: only the database can tell, unless it is failing.
    async fn look_up_miss(&self, digest: Digest) -> Result<Principal, AuthError> {
        if self.inner.db_state.failing() {
            self.probe(digest);
            tracing::debug!("refusing an uncached key without the identity database");
            return Err(AuthError::Unavailable);
        }
        match self.look_up(digest, LOOKUP_TIMEOUT).await {
            Some(outcome) => outcome,
            None => Err(AuthError::Unavailable),
        }
    }

    /// Asks the database for `digest` within `limit` and caches the answer;
    /// `None` when it failed or ran out of time (recorded as a failure).
    async fn look_up(
        &self,
        digest: Digest,
        limit: Duration,
    ) -> Option<Result<Principal, AuthError>> {
        let key_hash = hex::encode(digest);
        let lookup = store::lookup_by_hash(&self.inner.db, &key_hash);
        let found = match tokio::time::timeout(limit, lookup).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                self.lookup_failed(&e.to_string());
                return None;
            }
            Err(_) => {
                self.lookup_failed(&format!(
                    "the identity database did not answer within {} ms",
                    limit.as_millis()
                ));
                return None;
            }
        };
        if self.inner.db_state.answered() {
            tracing::info!("the identity database answers again; keys are looked up as usual");
        }
        Some(match found {
            Some(record) => {
                let outcome = decide(&record, now_us());
                self.insert_found(digest, record);
                outcome
            }
            None => {
                self.insert_unknown(digest);
                Err(AuthError::Invalid)
            }
        })
    }

    fn lookup_failed(&self, error: &str) {
        if self.inner.db_state.failed() {
            tracing::warn!(%error, probe_every = ?OUTAGE_BACKOFF,
                "identity lookup failed; serving cached keys and refusing uncached ones without waiting until the database answers again");
        } else {
            tracing::debug!(%error, "identity lookup failed again");
        }
    }

    /// While failing: at most one background lookup per back-off period.
    fn probe(&self, digest: Digest) {
        if self.inner.db_state.claim_probe() {
            self.refresh_in_background(digest);
        }
    }

    /// Looks `digest` up on a task of its own (one at a time per key), so
    /// no request waits for it.
    fn refresh_in_background(&self, digest: Digest) {
        if !self.inner.db_state.start_refresh(digest) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let _ = this.look_up(digest, LOOKUP_TIMEOUT).await;
            this.inner.db_state.end_refresh(&digest);
        });
    }

    /// Whether a failed lookup's back-off is running (tests).
    #[cfg(test)]
    fn in_backoff(&self) -> bool {
        self.inner.db_state.in_backoff()
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
            let age = at.elapsed();
            if age < self.inner.ttl {
                let refresh_due = age >= self.inner.ttl / 4 * 3;
                return Cached::Fresh(decide(record, now_us()), refresh_due);
            }
            return Cached::Stale(Box::new(record.clone()));
        }
        match shard.unknown.get(digest) {
            Some(at) if at.elapsed() < self.inner.negative_ttl => {
                Cached::Fresh(Err(AuthError::Invalid), false)
            }
            _ => Cached::Absent,
        }
    }

    fn insert_found(&self, digest: Digest, record: KeyRecord) {
        self.insert_found_at(digest, record, Instant::now());
    }

    /// Caches `record` as looked up at `at` (in the past for a snapshot's
    /// keys, so they count as stale).
    pub(super) fn insert_found_at(&self, digest: Digest, record: KeyRecord, at: Instant) {
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
        shard.found.insert(digest, (record, at));
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
            ..KeyRecord::default()
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

    /// A PostgreSQL pool whose server accepts connections and never
    /// answers (a real socket), as a hung database looks.
    async fn hung_db() -> (Db, tokio::net::TcpListener) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy(&format!("postgres://u:p@127.0.0.1:{port}/db"))
            .expect("a PostgreSQL URL parses");
        (Db::Postgres(pool), listener)
    }

    /// Stale entries on a hung database: the first request waits out
    /// STALE_REFRESH_TIMEOUT, which starts the outage; the next ones are
    /// answered from the cache without waiting, and uncached keys are
    /// refused at once.
    #[tokio::test]
    async fn a_hung_database_is_waited_for_once() {
        let (db, _listener) = hung_db().await;
        // TTL 0: every cached entry is stale at once.
        let auth = Authenticator::new(db, Duration::ZERO);
        auth.insert_found(key_digest("tok_cached"), record(7));
        let start = Instant::now();
        assert_eq!(
            auth.authenticate("tok_cached").await.map(|p| p.key_id),
            Ok(7)
        );
        assert!(start.elapsed() >= STALE_REFRESH_TIMEOUT);
        for _ in 0..20 {
            let start = Instant::now();
            assert_eq!(
                auth.authenticate("tok_cached").await.map(|p| p.key_id),
                Ok(7)
            );
            let waited = start.elapsed();
            assert!(waited < Duration::from_millis(50), "waited {waited:?}");
        }
        let start = Instant::now();
        assert_eq!(
            auth.authenticate("tok_other").await,
            Err(AuthError::Unavailable)
        );
        assert!(start.elapsed() < Duration::from_millis(50));
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
            Cached::Fresh(Ok(_), _)
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
            Cached::Fresh(Ok(_), _)
        ));
        auth.clear();
        assert_eq!(auth.cached_entries(), 0);
    }
}
