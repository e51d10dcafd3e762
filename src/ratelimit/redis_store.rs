//! The Redis store: the same buckets kept in Redis hashes so that several
//! gateways enforce one limit together. A check is one round trip: one
//! atomic script (`super::redis_spend`'s admission, which also takes
//! budgets) that refills every bucket involved, takes from all of them
//! only when all allow it, and sets an expiry so idle buckets disappear.
//! Time comes from the Redis server (`TIME`), so gateway clocks don't matter.

use redis::aio::ConnectionManager;

use super::bucket::{Check, Limit};
use super::{RateLimitError, Want};

pub struct RedisStore {
    pub(super) conn: ConnectionManager,
    /// Buckets and budgets together, settlement, and the budgets' seed
    /// (`super::redis_spend`); hashed once here, not per call.
    pub(super) scripts: super::redis_spend::Scripts,
    prefix: String,
}

impl RedisStore {
    /// Connects to `host:port` or a `redis://` URL.
    pub async fn connect(addr: &str) -> Result<Self, RateLimitError> {
        let url = if addr.contains("://") {
            addr.to_string()
        } else {
            format!("redis://{addr}")
        };
        let fail = |e: redis::RedisError| RateLimitError::Store(format!("Redis at {addr}: {e}"));
        let client = redis::Client::open(url.as_str()).map_err(fail)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(std::time::Duration::from_secs(2)))
            .set_response_timeout(Some(std::time::Duration::from_secs(1)))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(fail)?;
        Ok(Self {
            conn,
            scripts: super::redis_spend::Scripts::new(),
            prefix: "tokctl:rl:".into(),
        })
    }

    pub(super) fn key(&self, w: &super::BucketKey) -> String {
        format!("{}{}:{}", self.prefix, w.0.as_str(), w.1)
    }

    /// One round trip for every bucket of a request: the admission script
    /// with no budget.
    pub async fn check(&self, wants: &[Want]) -> Result<Vec<Check>, RateLimitError> {
        match self.admit(wants, None).await? {
            super::redis_spend::Reply::Done(done) => Ok(done.checks),
            other => Err(RateLimitError::Store(format!(
                "Redis: a check without budgets answered {other:?}"
            ))),
        }
    }

    /// One `PING`, for health checks.
    pub async fn ping(&self) -> Result<std::time::Duration, RateLimitError> {
        let start = std::time::Instant::now();
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| RateLimitError::Store(format!("Redis: {e}")))?;
        Ok(start.elapsed())
    }

    /// Gives back (or takes) `delta` tokens of one bucket: the settlement
    /// script with no budget.
    pub async fn adjust(
        &self,
        key: super::BucketKey,
        limit: Limit,
        delta: f64,
    ) -> Result<(), RateLimitError> {
        self.settle_spend(Some((key, limit, delta)), 0, &[]).await?;
        Ok(())
    }
}

/// Rebuilds a [`Check`] from the tokens left in a bucket after the script.
pub(super) fn check_from(limit: Limit, cost: f64, after: f64, allowed: bool) -> Check {
    let this_ok = allowed || after >= cost;
    Check {
        allowed: this_ok,
        remaining: after.max(0.0).floor(),
        reset_s: (limit.burst - after).max(0.0) / limit.rate,
        retry_after_s: if this_ok {
            0.0
        } else {
            (cost - after) / limit.rate
        },
    }
}
