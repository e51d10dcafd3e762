//! Cost of one rate-limit check: the memory store across 1,000,000
//! distinct keys, and the Redis store's round trip (when
//! `TOKCTL_BENCH_REDIS=host:port` is set). Prints nanoseconds per check.
//! Run: `cargo bench --bench ratelimit` (bench/ratelimit.sh starts a Redis).

use std::time::Instant;

use tokctl::config::RateLimitConfig;
use tokctl::identity::Principal;
use tokctl::ratelimit::RateLimiter;

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
    if let Ok(addr) = std::env::var("TOKCTL_BENCH_REDIS") {
        let cfg = RateLimitConfig {
            enabled: true,
            redis_addr: addr.into(),
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
    } else {
        println!("redis store: skipped (set TOKCTL_BENCH_REDIS=127.0.0.1:PORT)");
    }
    Ok(())
}
