//! The Redis side of shared cooldowns: one connection (the `redis` crate's
//! `ConnectionManager`, which reconnects by itself), the keys, and the
//! calls the sync task makes, each one round trip. Scripts keep a
//! read-then-write atomic (a cooldown is never shortened by a later,
//! shorter one); only the sync task calls these, never a request.

use redis::aio::ConnectionManager;

/// Why a call to the shared cooldowns failed.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("cannot connect to Redis at {addr} (rate_limit.redis_addr): {source}")]
    Connect {
        addr: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("Redis call `{what}` failed: {source}")]
    Call {
        what: &'static str,
        #[source]
        source: redis::RedisError,
    },
    #[error("Redis did not answer within {0} ms (routing.cooldown_sync_ms)")]
    Timeout(u64),
}

/// Every deployment's cooldown time left (`PTTL`) and probe key, in pairs
/// of keys (cooldown, probe); answers two strings per pair.
const READ: &str = r"
local out = {}
for i = 1, #KEYS, 2 do
  out[#out + 1] = tostring(redis.call('PTTL', KEYS[i]))
  out[#out + 1] = redis.call('GET', KEYS[i + 1]) or ''
end
return out
";

/// A cooldown started here (ARGV: its end in Unix ms, ms left): set unless
/// a longer one runs; any probe claim or `ok` is over.
const COOLED: &str = r"
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
redis.call('DEL', KEYS[2])
return 1
";

/// A success ended a cooldown here (ARGV: how long `ok` stays, ms).
const RECOVERED: &str = r"
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], 'ok', 'PX', ARGV[1])
return 1
";

/// What Redis says of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Remote {
    /// Milliseconds of cooldown left; 0 when none.
    pub left_ms: u64,
    /// The probe key: empty, `ok` (recovered) or the claiming instance.
    pub probe: String,
}

pub(super) struct Store {
    conn: ConnectionManager,
    read: redis::Script,
    cooled: redis::Script,
    recovered: redis::Script,
}

/// The cooldown key and the probe key of a deployment.
pub(super) fn keys(model: &str, deployment: &str) -> (String, String) {
    (
        format!("tokctl:cooldown:{model}:{deployment}"),
        format!("tokctl:probe:{model}:{deployment}"),
    )
}

fn call(what: &'static str) -> impl Fn(redis::RedisError) -> FleetError {
    move |source| FleetError::Call { what, source }
}

impl Store {
    /// Connects to `host:port` or a `redis://` URL.
    pub(super) async fn connect(
        at: &crate::config::SecretUrl,
        timeout_ms: u64,
    ) -> Result<Store, FleetError> {
        let addr = at.expose();
        let url = if addr.contains("://") {
            addr.to_string()
        } else {
            format!("redis://{addr}")
        };
        let fail = |source| FleetError::Connect {
            addr: at.to_string(),
            source,
        };
        let client = redis::Client::open(url.as_str()).map_err(fail)?;
        let wait = std::time::Duration::from_millis(timeout_ms.max(1));
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(wait))
            .set_response_timeout(Some(wait))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(fail)?;
        Ok(Store {
            conn,
            read: redis::Script::new(READ),
            cooled: redis::Script::new(COOLED),
            recovered: redis::Script::new(RECOVERED),
        })
    }

    /// Every deployment's state in Redis, in the order of `keys`.
    pub(super) async fn read(&self, keys: &[(String, String)]) -> Result<Vec<Remote>, FleetError> {
        let mut inv = self.read.prepare_invoke();
        for (cooldown, probe) in keys {
            inv.key(cooldown).key(probe);
        }
        let out: Vec<String> = inv
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(call("read cooldowns"))?;
        Ok(out
            .chunks(2)
            .map(|pair| Remote {
                left_ms: pair[0]
                    .parse::<i64>()
                    .map_or(0, |ms| ms.max(0).unsigned_abs()),
                probe: pair.get(1).cloned().unwrap_or_default(),
            })
            .collect())
    }

    pub(super) async fn cooled(
        &self,
        keys: &(String, String),
        end_unix_ms: u64,
        left_ms: u64,
    ) -> Result<(), FleetError> {
        let _: i64 = self
            .cooled
            .key(&keys.0)
            .key(&keys.1)
            .arg(end_unix_ms)
            .arg(left_ms.max(1))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(call("publish a cooldown"))?;
        Ok(())
    }

    pub(super) async fn recovered(
        &self,
        keys: &(String, String),
        ok_ms: u64,
    ) -> Result<(), FleetError> {
        let _: i64 = self
            .recovered
            .key(&keys.0)
            .key(&keys.1)
            .arg(ok_ms.max(1))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(call("publish a recovery"))?;
        Ok(())
    }

    /// `SET probe <instance> NX PX <ms>`: whether this instance won.
    pub(super) async fn claim(
        &self,
        probe_key: &str,
        instance: &str,
        ms: u64,
    ) -> Result<bool, FleetError> {
        let won: Option<String> = redis::cmd("SET")
            .arg(probe_key)
            .arg(instance)
            .arg("NX")
            .arg("PX")
            .arg(ms.max(1))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(call("claim a probe"))?;
        Ok(won.is_some())
    }
}
