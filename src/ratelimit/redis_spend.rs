//! The Redis side of admission when budgets apply: one script checks the
//! request's rate-limit buckets *and* its budgets and takes from all of
//! them or none (one round trip), one script settles the tokens and the
//! spend when the request ends (one round trip), and two small ones
//! rebuild what Redis lost.
//!
//! A budget's period is one hash, `tokctl:budget:{scope}:{id}:{start_us}`,
//! with `spent` (nano-units), `soft` once its threshold was crossed, and the
//! estimates held by requests in flight in generations, `held:{g}` with g =
//! Redis time / the hold's lifetime (`server.request_timeout_ms`): only the
//! current and the previous generation count, so what a gateway that died
//! mid-request held is forgotten after one to two lifetimes instead of
//! staying held until the period ends. The hash expires an hour after its
//! period. `tokctl:budget:epoch`
//! names the life of Redis's data: a gateway that finds it gone or changed
//! knows Redis was flushed or restarted and rebuilds (see `super::spend`).
//! A missing period hash is seeded from the ledger before the check runs.

use super::bucket::Check;
use super::redis_store::{RedisStore, check_from};
use super::{RateLimitError, Want};
use crate::budget::{Ask, Budget, Scope};

/// The epoch key: present as long as Redis kept its data.
pub(super) const EPOCH_KEY: &str = "tokctl:budget:epoch";

const ADMIT: &str = r#"
local n = tonumber(ARGV[1])
local m = tonumber(ARGV[2])
if m > 0 then
  local e = redis.call('GET', KEYS[n + 1])
  if (not e) or e ~= ARGV[3] then return { 'epoch', e or '' } end
  local missing = { 'seed' }
  for j = 1, m do
    if redis.call('EXISTS', KEYS[n + 1 + j]) == 0 then missing[#missing + 1] = tostring(j) end
  end
  if #missing > 1 then return missing end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local gen = math.floor(now / tonumber(ARGV[4]))
local hf, hp = 'held:' .. gen, 'held:' .. (gen - 1)
local tokens = {}
local allowed = 1
for i = 1, n do
  local rate = tonumber(ARGV[4 + (i - 1) * 3 + 1])
  local burst = tonumber(ARGV[4 + (i - 1) * 3 + 2])
  local cost = tonumber(ARGV[4 + (i - 1) * 3 + 3])
  local h = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local tk = tonumber(h[1]) or burst
  local at = tonumber(h[2]) or now
  if now > at then tk = math.min(burst, tk + (now - at) * rate) end
  tokens[i] = tk
  if tk < cost then allowed = 0 end
end
local b0 = 4 + n * 3
local spent, held = {}, {}
local over = 0
for j = 1, m do
  local h = redis.call('HMGET', KEYS[n + 1 + j], 'spent', hf, hp)
  spent[j] = tonumber(h[1]) or 0
  held[j] = (tonumber(h[2]) or 0) + (tonumber(h[3]) or 0)
  local limit = tonumber(ARGV[b0 + (j - 1) * 2 + 1])
  local est = tonumber(ARGV[b0 + (j - 1) * 2 + 2])
  if over == 0 and spent[j] + held[j] + est > limit then over = j end
end
if over > 0 then allowed = 0 end
local out = { 'ok', tostring(allowed), tostring(over), tostring(gen) }
for i = 1, n do
  local rate = tonumber(ARGV[4 + (i - 1) * 3 + 1])
  local burst = tonumber(ARGV[4 + (i - 1) * 3 + 2])
  local cost = tonumber(ARGV[4 + (i - 1) * 3 + 3])
  local tk = tokens[i]
  if allowed == 1 then tk = tk - cost end
  redis.call('HSET', KEYS[i], 'tokens', string.format('%.6f', tk), 'at', string.format('%.6f', now))
  redis.call('PEXPIRE', KEYS[i], math.ceil(((burst - tk) / rate + 1) * 1000))
  out[#out + 1] = string.format('%.6f', tk)
end
for j = 1, m do
  local est = tonumber(ARGV[b0 + (j - 1) * 2 + 2])
  if allowed == 1 then
    redis.call('HINCRBY', KEYS[n + 1 + j], hf, est)
    redis.call('HDEL', KEYS[n + 1 + j], 'held:' .. (gen - 2))
    held[j] = held[j] + est
  end
  out[#out + 1] = tostring(spent[j])
  out[#out + 1] = tostring(held[j])
end
return out
"#;

/// Settles one request: the tokens bucket (when there is one) and every
/// budget held. A period hash that is gone (flushed, or expired long after
/// its period) is left alone: its rebuild reads this entry from the ledger.
const SETTLE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local k0 = 0
if ARGV[1] == '1' then
  k0 = 1
  local rate = tonumber(ARGV[2])
  local burst = tonumber(ARGV[3])
  local delta = tonumber(ARGV[4])
  local h = redis.call('HMGET', KEYS[1], 'tokens', 'at')
  local tk = tonumber(h[1]) or burst
  local at = tonumber(h[2]) or now
  if now > at then tk = math.min(burst, tk + (now - at) * rate) end
  tk = math.min(burst, tk + delta)
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tk), 'at', string.format('%.6f', now))
  redis.call('PEXPIRE', KEYS[1], math.ceil(((burst - tk) / rate + 1) * 1000))
end
local out = {}
for j = 1, #KEYS - k0 do
  local key = KEYS[k0 + j]
  local est = tonumber(ARGV[5 + (j - 1) * 3 + 1])
  local cost = tonumber(ARGV[5 + (j - 1) * 3 + 2])
  local soft = tonumber(ARGV[5 + (j - 1) * 3 + 3])
  local crossed = 0
  if redis.call('EXISTS', key) == 1 then
    local hf = 'held:' .. ARGV[5]
    -- (est > 0: Lua writes minus zero as '-0', which HINCRBY refuses)
    if est > 0 and redis.call('HEXISTS', key, hf) == 1 then
      local held = redis.call('HINCRBY', key, hf, 0 - est)
      if held < 0 then redis.call('HSET', key, hf, 0) end
    end
    local spent = redis.call('HINCRBY', key, 'spent', cost)
    if soft >= 0 and spent >= soft then crossed = redis.call('HSETNX', key, 'soft', 1) end
  end
  out[j] = crossed
end
return out
"#;

/// Rebuilds period hashes, in one of three modes (ARGV[2]):
///
/// - `create` (a period hash the admission found missing): creates it with
///   the ledger's spend plus this gateway's unwritten spend, raised to the
///   gateway's own view; a hash that exists by now (another request or
///   gateway created it first) is left alone, so concurrent creations
///   never add twice.
/// - `adopt` (this gateway found the epoch gone or changed): creates a
///   missing hash the same way, and adds to an existing one this gateway's
///   unwritten spend once (`own:{instance}` remembers what it added), so
///   the gateways' unwritten spend adds up.
/// - `floor` (the reconciler): raises `spent` to at least the value given.
///
/// ARGV: instance, mode, then per key ledger (-1: unknown), own, floor,
/// ttl_ms. Nothing is ever lowered.
const SEED: &str = r#"
local inst, mode = ARGV[1], ARGV[2]
for j = 1, #KEYS do
  local k = KEYS[j]
  local b = 2 + (j - 1) * 4
  local l, u, f, ttl = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  if redis.call('EXISTS', k) == 0 then
    if mode ~= 'floor' then
      local v = math.max(l, 0) + u
      if f > v then v = f end
      redis.call('HSET', k, 'spent', v, 'own:' .. inst, u)
      redis.call('PEXPIRE', k, ttl)
    end
  elseif mode == 'adopt' then
    local u0 = tonumber(redis.call('HGET', k, 'own:' .. inst)) or 0
    if u > u0 then
      redis.call('HINCRBY', k, 'spent', u - u0)
      redis.call('HSET', k, 'own:' .. inst, u)
    end
  elseif mode == 'floor' then
    local cur = tonumber(redis.call('HGET', k, 'spent')) or 0
    if f > cur then redis.call('HSET', k, 'spent', f) end
  end
end
return 1
"#;

/// How [`SEED`] treats a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SeedMode {
    Create,
    Adopt,
    Floor,
}

/// One period hash to rebuild ([`SEED`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seed {
    pub key: String,
    /// The ledger's spend in the period, when it could be read.
    pub ledger: Option<i64>,
    /// This gateway's spend the ledger does not hold yet.
    pub own: i64,
    /// `spent` is raised to at least this.
    pub floor: i64,
    pub ttl_ms: i64,
}

/// The three scripts, hashed once.
pub(super) struct Scripts {
    admit: redis::Script,
    settle: redis::Script,
    seed: redis::Script,
}

impl Scripts {
    pub(super) fn new() -> Scripts {
        Scripts {
            admit: redis::Script::new(ADMIT),
            settle: redis::Script::new(SETTLE),
            seed: redis::Script::new(SEED),
        }
    }
}

/// A checked admission: the buckets' results, the first budget that had no
/// room (if any), per budget (spent, held) after, and the generation the
/// holds were made in (settled in the same).
#[derive(Debug)]
pub(super) struct Done {
    pub checks: Vec<Check>,
    pub over: Option<usize>,
    pub spend: Vec<(i64, i64)>,
    pub generation: i64,
}

/// What the admission script answered.
#[derive(Debug)]
pub(super) enum Reply {
    /// Checked.
    Done(Done),
    /// The epoch is not the one this gateway knows (`""`: gone).
    Epoch(String),
    /// These budgets (indexes into the ask) have no hash for their period.
    Seed(Vec<usize>),
}

/// The key of `b`'s period starting at `start_us`.
pub(super) fn budget_key(b: &Budget, start_us: i64) -> String {
    let scope = match b.scope {
        Scope::Key => "key",
        Scope::User => "user",
        Scope::Team => "team",
    };
    format!("tokctl:budget:{scope}:{}:{start_us}", b.id)
}

/// Milliseconds a period's hash lives: to the period's end and an hour more.
pub(super) fn ttl_ms(reset_us: i64, now_us: i64) -> i64 {
    (reset_us.saturating_sub(now_us) / 1000).clamp(0, i64::MAX / 2) + 3_600_000
}

fn store_err(e: redis::RedisError) -> RateLimitError {
    RateLimitError::Store(format!("Redis: {e}"))
}

/// The budgets' part of an admission: each budget's key, limit and the
/// estimate, in the ask's order.
pub(super) struct BudgetArgs<'a> {
    pub ask: &'a Ask,
    pub keys: Vec<String>,
    pub epoch: &'a str,
    /// How long a hold counts at least (a generation), in seconds.
    pub hold_s: f64,
}

/// One round trip: buckets and budgets, all or none.
impl RedisStore {
    pub(super) async fn admit(
        &self,
        wants: &[Want],
        budgets: Option<&BudgetArgs<'_>>,
    ) -> Result<Reply, RateLimitError> {
        let mut inv = self.scripts.admit.prepare_invoke();
        for w in wants {
            inv.key(self.key(&w.key));
        }
        let m = budgets.map_or(0, |b| b.keys.len());
        inv.arg(wants.len()).arg(m);
        if let Some(b) = budgets {
            inv.key(EPOCH_KEY);
            for k in &b.keys {
                inv.key(k);
            }
            inv.arg(b.epoch).arg(b.hold_s.max(1.0));
        } else {
            inv.arg("").arg(1);
        }
        for w in wants {
            inv.arg(w.limit.rate).arg(w.limit.burst).arg(w.cost);
        }
        if let Some(b) = budgets {
            for budget in b.ask.budgets.iter() {
                inv.arg(budget.limit_nano).arg(b.ask.estimate_nano.max(0));
            }
        }
        let mut conn = self.conn.clone();
        let out: Vec<String> = inv.invoke_async(&mut conn).await.map_err(store_err)?;
        parse_admit(&out, wants, m)
    }

    /// One round trip: the tokens bucket (key, rate, burst, delta) and the
    /// budgets; returns, per budget, whether this settlement crossed its soft
    /// threshold first.
    pub(super) async fn settle_spend(
        &self,
        tokens: Option<(super::BucketKey, super::bucket::Limit, f64)>,
        generation: i64,
        budgets: &[SettleBudget],
    ) -> Result<Vec<bool>, RateLimitError> {
        let mut inv = self.scripts.settle.prepare_invoke();
        match &tokens {
            Some((key, limit, delta)) => {
                inv.key(self.key(key))
                    .arg("1")
                    .arg(limit.rate)
                    .arg(limit.burst)
                    .arg(*delta);
            }
            None => {
                inv.arg("0").arg(0).arg(0).arg(0);
            }
        }
        inv.arg(generation);
        for b in budgets {
            inv.key(&b.key)
                .arg(b.estimate_nano.max(0))
                .arg(b.cost_nano.max(0))
                .arg(b.soft_nano.unwrap_or(-1));
        }
        let mut conn = self.conn.clone();
        let out: Vec<i64> = inv.invoke_async(&mut conn).await.map_err(store_err)?;
        Ok(out.into_iter().map(|c| c == 1).collect())
    }

    /// Raises (or creates) period hashes to the spend given, with their TTLs.
    pub(super) async fn seed(
        &self,
        instance: &str,
        mode: SeedMode,
        items: &[Seed],
    ) -> Result<(), RateLimitError> {
        let mut inv = self.scripts.seed.prepare_invoke();
        let mode = match mode {
            SeedMode::Create => "create",
            SeedMode::Adopt => "adopt",
            SeedMode::Floor => "floor",
        };
        inv.arg(instance).arg(mode);
        for s in items {
            inv.key(&s.key)
                .arg(s.ledger.unwrap_or(-1))
                .arg(s.own.max(0))
                .arg(s.floor.max(0))
                .arg(s.ttl_ms);
        }
        let mut conn = self.conn.clone();
        let _: i64 = inv.invoke_async(&mut conn).await.map_err(store_err)?;
        Ok(())
    }

    /// The epoch now (`""`: none).
    pub(super) async fn epoch(&self) -> Result<String, RateLimitError> {
        let mut conn = self.conn.clone();
        let v: Option<String> = redis::cmd("GET")
            .arg(EPOCH_KEY)
            .query_async(&mut conn)
            .await
            .map_err(store_err)?;
        Ok(v.unwrap_or_default())
    }

    /// A period hash's `spent` (`None`: no such hash).
    pub(super) async fn spent(&self, key: &str) -> Result<Option<i64>, RateLimitError> {
        let mut conn = self.conn.clone();
        let v: Option<i64> = redis::cmd("HGET")
            .arg(key)
            .arg("spent")
            .query_async(&mut conn)
            .await
            .map_err(store_err)?;
        Ok(v)
    }

    /// The epoch after making sure there is one: `SET NX` a new one when gone.
    pub(super) async fn ensure_epoch(&self, fresh: &str) -> Result<String, RateLimitError> {
        let mut conn = self.conn.clone();
        let (_, epoch): (Option<String>, Option<String>) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(EPOCH_KEY)
            .arg(fresh)
            .arg("NX")
            .cmd("GET")
            .arg(EPOCH_KEY)
            .query_async(&mut conn)
            .await
            .map_err(store_err)?;
        Ok(epoch.unwrap_or_else(|| fresh.to_string()))
    }
}

fn parse_admit(out: &[String], wants: &[Want], m: usize) -> Result<Reply, RateLimitError> {
    let bad = || RateLimitError::Store(format!("Redis: unexpected admission reply {out:?}"));
    match out.first().map(String::as_str) {
        Some("epoch") => Ok(Reply::Epoch(out.get(1).cloned().unwrap_or_default())),
        Some("seed") => Ok(Reply::Seed(
            out[1..]
                .iter()
                .filter_map(|s| s.parse::<usize>().ok())
                .map(|j| j - 1)
                .collect(),
        )),
        Some("ok") => {
            let allowed = out.get(1).map(String::as_str) == Some("1");
            let over: usize = out.get(2).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
            let generation: i64 = out.get(3).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
            let num = |i: usize| out.get(i).and_then(|s| s.parse::<f64>().ok());
            let mut checks = Vec::with_capacity(wants.len());
            for (i, w) in wants.iter().enumerate() {
                let after = num(4 + i).ok_or_else(bad)?;
                checks.push(check_from(w.limit, w.cost, after, allowed));
            }
            let base = 4 + wants.len();
            let mut spend = Vec::with_capacity(m);
            for j in 0..m {
                let spent = num(base + 2 * j).ok_or_else(bad)? as i64;
                let held = num(base + 2 * j + 1).ok_or_else(bad)? as i64;
                spend.push((spent, held));
            }
            Ok(Reply::Done(Done {
                checks,
                over: over.checked_sub(1),
                spend,
                generation,
            }))
        }
        _ => Err(bad()),
    }
}

/// One budget's part of a settlement.
pub(super) struct SettleBudget {
    pub key: String,
    pub estimate_nano: i64,
    pub cost_nano: i64,
    /// Spend at which the soft threshold is crossed (`None`: no threshold).
    pub soft_nano: Option<i64>,
}
