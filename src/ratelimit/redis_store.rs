//! The Redis store: the same buckets kept in Redis hashes so that several
//! gateways enforce one limit together. A check is one round trip: one
//! atomic script that refills every bucket involved, takes from all of them
//! only when all allow it, and sets an expiry so idle buckets disappear.
//! Time comes from the Redis server (`TIME`), so gateway clocks don't matter.

use redis::aio::ConnectionManager;

use super::bucket::{Check, Limit};
use super::{RateLimitError, Want};

const CHECK: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local n = #KEYS
local tokens = {}
local allowed = 1
for i = 1, n do
  local rate = tonumber(ARGV[(i - 1) * 3 + 1])
  local burst = tonumber(ARGV[(i - 1) * 3 + 2])
  local cost = tonumber(ARGV[(i - 1) * 3 + 3])
  local h = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local tk = tonumber(h[1]) or burst
  local at = tonumber(h[2]) or now
  if now > at then tk = math.min(burst, tk + (now - at) * rate) end
  tokens[i] = tk
  if tk < cost then allowed = 0 end
end
local out = { allowed }
for i = 1, n do
  local rate = tonumber(ARGV[(i - 1) * 3 + 1])
  local burst = tonumber(ARGV[(i - 1) * 3 + 2])
  local cost = tonumber(ARGV[(i - 1) * 3 + 3])
  local tk = tokens[i]
  if allowed == 1 then tk = tk - cost end
  redis.call('HSET', KEYS[i], 'tokens', string.format('%.6f', tk), 'at', string.format('%.6f', now))
  redis.call('PEXPIRE', KEYS[i], math.ceil(((burst - tk) / rate + 1) * 1000))
  out[i + 1] = string.format('%.6f', tk)
end
return out
"#;

const ADJUST: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local delta = tonumber(ARGV[3])
local h = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tk = tonumber(h[1]) or burst
local at = tonumber(h[2]) or now
if now > at then tk = math.min(burst, tk + (now - at) * rate) end
tk = math.min(burst, tk + delta)
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tk), 'at', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(((burst - tk) / rate + 1) * 1000))
return string.format('%.6f', tk)
"#;

pub struct RedisStore {
    pub(super) conn: ConnectionManager,
    check: redis::Script,
    adjust: redis::Script,
    /// Buckets and budgets together, and the budgets' settle and seed
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
            check: redis::Script::new(CHECK),
            adjust: redis::Script::new(ADJUST),
            scripts: super::redis_spend::Scripts::new(),
            prefix: "tokctl:rl:".into(),
        })
    }

    pub(super) fn key(&self, w: &super::BucketKey) -> String {
        format!("{}{}:{}", self.prefix, w.0.as_str(), w.1)
    }

    /// One round trip for every bucket of a request.
    pub async fn check(&self, wants: &[Want]) -> Result<Vec<Check>, RateLimitError> {
        let mut inv = self.check.prepare_invoke();
        for w in wants {
            inv.key(self.key(&w.key));
        }
        for w in wants {
            inv.arg(w.limit.rate).arg(w.limit.burst).arg(w.cost);
        }
        let mut conn = self.conn.clone();
        let out: Vec<String> = inv
            .invoke_async(&mut conn)
            .await
            .map_err(|e| RateLimitError::Store(format!("Redis: {e}")))?;
        let allowed = out.first().map(String::as_str) == Some("1");
        let mut checks = Vec::with_capacity(wants.len());
        for (i, w) in wants.iter().enumerate() {
            let after: f64 = out.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(0.0);
            checks.push(check_from(w.limit, w.cost, after, allowed));
        }
        Ok(checks)
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

    pub async fn adjust(
        &self,
        key: super::BucketKey,
        limit: Limit,
        delta: f64,
    ) -> Result<(), RateLimitError> {
        let mut conn = self.conn.clone();
        let _: String = self
            .adjust
            .key(self.key(&key))
            .arg(limit.rate)
            .arg(limit.burst)
            .arg(delta)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| RateLimitError::Store(format!("Redis: {e}")))?;
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
