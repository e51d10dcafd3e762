//! Cost of one rate-limit check: the memory store across 1,000,000
//! distinct keys, and the Redis store's round trip (when
//! `TOKCTL_BENCH_REDIS=host:port` is set), and the same with a budget
//! (#34): the memory store's reserve and settle, and Redis's admission and
//! settlement with the round trips counted by Redis itself (`INFO
//! commandstats`). Prints nanoseconds per check.
//! Run: `cargo bench --bench ratelimit` (bench/ratelimit.sh starts a Redis).

use std::time::Instant;

use tokctl::budget::{Ask, Budget, Scope, Window};
use tokctl::config::RateLimitConfig;
use tokctl::identity::Principal;
use tokctl::ratelimit::{RateLimiter, Spend};

fn principal(i: i64) -> Principal {
    Principal {
        user_id: i,
        user_name: format!("u{i}"),
        key_id: i,
        rps: None,
        burst: None,
        tokens_per_minute: None,
        ..Principal::default()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if !std::env::args().any(|a| a == "--bench") {
        println!("ratelimit: a benchmark; run it with `cargo bench --bench ratelimit`");
        return Ok(());
    }
    // Slow refill and a large burst, so no bucket refills completely (and is
    // evicted) during the run: all 1M user and 1M key buckets stay live.
    let cfg = RateLimitConfig {
        enabled: true,
        user_rps: 0.001,
        user_burst: 1000,
        apikey_rps: 0.001,
        apikey_burst: 1000,
        ..Default::default()
    };
    let keys: i64 = 1_000_000;
    let principals: Vec<Principal> = (0..keys).map(principal).collect();
    let mem = RateLimiter::new(&cfg).await?;
    // First pass creates 1M user buckets and 1M key buckets.
    for p in &principals {
        mem.check(p, None).await;
    }
    println!(
        "memory store: {} buckets after the first pass",
        mem.memory_buckets().unwrap_or(0)
    );
    let rounds = 3_000_000usize;
    let start = Instant::now();
    let mut allowed = 0usize;
    for i in 0..rounds {
        // A spread-out walk over the keys so caches don't flatter the store.
        let p = &principals[(i.wrapping_mul(7919)) % keys as usize];
        allowed += usize::from(mem.check(p, None).await.allowed);
    }
    let ns = start.elapsed().as_nanos() as f64 / rounds as f64;
    println!(
        "memory store: {ns:.0} ns per check (user + key buckets) at {} buckets, {allowed} allowed",
        mem.memory_buckets().unwrap_or(0)
    );
    budgets_in_memory(&mem, &principals).await;
    if let Ok(addr) = std::env::var("TOKCTL_BENCH_REDIS") {
        let cfg = RateLimitConfig {
            enabled: true,
            redis_addr: addr.clone().into(),
            ..Default::default()
        };
        let redis = RateLimiter::new(&cfg).await?;
        let n = 20_000;
        let start = Instant::now();
        for p in principals.iter().take(n) {
            redis.check(p, None).await;
        }
        let us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("redis store: {us:.1} µs per check (one round trip, sequential)");
        budgets_in_redis(&redis, &addr, &principals[..n]).await?;
    } else {
        println!("redis store: skipped (set TOKCTL_BENCH_REDIS=127.0.0.1:PORT)");
    }
    Ok(())
}

/// Key, user and team budgets far above what the run spends.
fn with_budgets(p: &Principal) -> (Principal, Ask) {
    let budget = |scope, id| Budget {
        scope,
        id,
        limit_nano: i64::MAX / 4,
        window: Window::Monthly,
        anchor_us: 0,
        soft_percent: Some(80),
    };
    let budgets: std::sync::Arc<[Budget]> = std::sync::Arc::from(vec![
        budget(Scope::Key, p.key_id),
        budget(Scope::User, p.user_id),
        budget(Scope::Team, p.user_id % 100),
    ]);
    let p = Principal {
        budgets: Some(budgets.clone()),
        ..p.clone()
    };
    (
        p,
        Ask {
            budgets,
            estimate_nano: 2_000_000,
        },
    )
}

/// Admission plus settlement with three budgets, memory store.
async fn budgets_in_memory(mem: &RateLimiter, principals: &[Principal]) {
    let asks: Vec<(Principal, Ask)> = principals.iter().take(100_000).map(with_budgets).collect();
    let rounds = 1_000_000usize;
    let start = Instant::now();
    for i in 0..rounds {
        let (p, ask) = &asks[i.wrapping_mul(7919) % asks.len()];
        if let (_, Spend::Held(t)) = mem.admit(p, None, Some(ask)).await {
            mem.settle_all(None, Some((&t, 1_900_000))).await;
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / rounds as f64;
    println!(
        "memory store with 3 budgets: {ns:.0} ns per admission + settlement (user + key buckets, key + user + team budgets)"
    );
}

/// The same through Redis, with Redis's own count of the scripts it ran.
async fn budgets_in_redis(
    redis: &RateLimiter,
    addr: &str,
    principals: &[Principal],
) -> Result<(), Box<dyn std::error::Error>> {
    let asks: Vec<(Principal, Ask)> = principals.iter().map(with_budgets).collect();
    // The first admission of each budget seeds its period (no ledger here).
    for (p, ask) in &asks {
        if let (_, Spend::Held(t)) = redis.admit(p, None, Some(ask)).await {
            redis.settle_all(None, Some((&t, 0))).await;
        }
    }
    let before = script_calls(addr)?;
    let (mut admit_s, mut settle_s) = (0.0, 0.0);
    for (p, ask) in &asks {
        let t0 = Instant::now();
        let (_, spend) = redis.admit(p, None, Some(ask)).await;
        admit_s += t0.elapsed().as_secs_f64();
        if let Spend::Held(t) = spend {
            let t1 = Instant::now();
            redis.settle_all(None, Some((&t, 1_900_000))).await;
            settle_s += t1.elapsed().as_secs_f64();
        }
    }
    let calls = script_calls(addr)? - before;
    let n = asks.len() as f64;
    println!(
        "redis store with 3 budgets: admission {:.1} µs, settlement {:.1} µs (sequential); \
         Redis ran {:.2} scripts per request (one admission + one settlement = 2)",
        admit_s * 1e6 / n,
        settle_s * 1e6 / n,
        calls as f64 / n
    );
    Ok(())
}

/// EVAL and EVALSHA calls Redis has served so far.
fn script_calls(addr: &str) -> Result<u64, Box<dyn std::error::Error>> {
    let client = redis::Client::open(format!("redis://{addr}"))?;
    let mut conn = client.get_connection()?;
    let info: String = redis::cmd("INFO").arg("commandstats").query(&mut conn)?;
    let calls = |name: &str| -> u64 {
        info.lines()
            .find(|l| l.starts_with(&format!("cmdstat_{name}:")))
            .and_then(|l| l.split("calls=").nth(1))
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(calls("evalsha") + calls("eval"))
}
