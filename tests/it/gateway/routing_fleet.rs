//! Cooldowns shared between two real `tokctl serve` processes through a
//! real Redis (each test has its own, so keys never meet another test's),
//! with one PostgreSQL ledger: a deployment one gateway cooled down gets
//! nothing from the other, and the fleet sends it at most one probe per
//! cooldown period. With Redis gone, each gateway keeps its own cooldowns
//! and routing goes on. One ledger row per client request.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

use super::cases::{chat, client};
use super::harness::Gateway;
use super::routing::{model, provider};
use super::routing_upstream::{Mode, Switch, route_rows};
use crate::support::{TestDb, redis};

/// A model `m` over a deployment answering 500 and a good one, cooled
/// after 2 failures for `cool_ms`, cooldowns read from Redis every 50 ms.
async fn config(bad: &Switch, good: &Switch, redis_addr: &str, cool_ms: u64) -> String {
    format!(
        "{}{}{}[routing]\ncooldown_after = 2\ncooldown_ms = {cool_ms}\ncooldown_sync_ms = 50\n\
         [rate_limit]\nredis_addr = \"{redis_addr}\"\n",
        provider("bad", &bad.start().await),
        provider("good", &good.start().await),
        model("m", &[("bad", 1), ("good", 1)], ""),
    )
}

/// Sends `n` requests for `m` to `gw`, 4 at a time; returns their statuses.
async fn burst(gw: &Gateway, key: &str, n: usize) -> Vec<u16> {
    let url = gw.url("/v1/chat/completions");
    let c = client();
    futures_util::stream::iter(0..n)
        .map(|_| {
            let (c, url) = (c.clone(), url.clone());
            async move {
                let r = c.post(url).bearer_auth(key).json(&chat("m", false)).send();
                r.await.map_or(0, |r| r.status().as_u16())
            }
        })
        .buffer_unordered(4)
        .collect()
        .await
}

/// The `/health` component called `name`: (status, message).
async fn component(gw: &Gateway, name: &str) -> (String, String) {
    let h: Value = client()
        .get(gw.url("/health"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    let c = h["components"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("{name} in {h}"));
    let text = |k: &str| c[k].as_str().unwrap_or("").to_string();
    (text("status"), text("message"))
}

/// Waits up to `secs` until `name`'s status is `status`.
async fn until_status(gw: &Gateway, name: &str, status: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (now, message) = component(gw, name).await;
        if now == status {
            return;
        }
        assert!(Instant::now() < deadline, "{name} stayed {now}: {message}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `gw` shares its cooldowns through Redis. Not "healthy":
/// the component is healthy while still connecting too, and a test that
/// stops Redis before the first connection sees "not shared yet", not
/// the loss it means to test (CI run of 2026-12-08).
async fn until_shared(gw: &Gateway, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (_, message) = component(gw, "routing_cooldowns").await;
        if message.starts_with("cooldowns shared through Redis") {
            return;
        }
        assert!(Instant::now() < deadline, "never shared: {message}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts that requests reached `bad` at least 90 % of `cool_ms` apart
/// from `after` on (the start of the first cooldown); returns how many.
fn probes_once_per_period(bad: &Switch, after: Instant, cool_ms: u64) -> usize {
    let times = bad.times.lock().expect("lock").clone();
    let mut last = after;
    let mut probes = 0;
    for t in times.into_iter().filter(|t| *t > after) {
        let gap = t.duration_since(last);
        assert!(
            gap >= Duration::from_millis(cool_ms * 9 / 10),
            "a request reached the cooled deployment {gap:?} after the last (cooldown {cool_ms} ms)"
        );
        last = t;
        probes += 1;
    }
    probes
}

#[tokio::test]
async fn two_gateways_share_a_cooldown_and_one_probe_per_period() {
    const COOL_MS: u64 = 2_000;
    let r = redis::start("redis-server").expect("a Redis of this test's own");
    let db = TestDb::postgres().await;
    let (bad, good) = (Switch::new(Mode::Status(500)), Switch::new(Mode::Answer));
    let cfg = config(&bad, &good, &r.addr(), COOL_MS).await;
    let a = Gateway::start(&db.dsn, &cfg);
    let b = Gateway::start(&db.dsn, &cfg);
    let key = a.key.clone().expect("the admin key of the first start");
    until_shared(&a, 5).await;
    until_shared(&b, 5).await;
    let mut sent = 0;
    // Gateway a alone, until its second failure cools the bad one down.
    while bad.count() < 2 {
        assert_eq!(burst(&a, &key, 1).await, [200]);
        sent += 1;
        assert!(sent < 200, "the bad deployment was never picked");
    }
    let cooled_at = bad.times.lock().expect("lock")[1];
    // b never sent it a request, and learns of the cooldown from Redis.
    until_status(&b, "m/bad", "degraded", 1).await;
    let (_, sharing) = component(&b, "routing_cooldowns").await;
    assert!(
        sharing.contains("1 learnt from other gateways"),
        "{sharing}"
    );
    // Both gateways busy for three cooldown periods and a bit.
    let start = Instant::now();
    let mut to_b = 0;
    while start.elapsed() < Duration::from_millis(COOL_MS * 3 + 500) {
        for gw in [&a, &b] {
            let statuses = burst(gw, &key, 8).await;
            assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
            sent += 8;
        }
        to_b += 8;
    }
    let probes = probes_once_per_period(&bad, cooled_at, COOL_MS);
    assert!(
        probes >= 2,
        "a probe went out after each cooldown: {probes} in {:?} (cooldown {COOL_MS} ms)",
        start.elapsed()
    );
    assert!(to_b > 0);
    // It answers again: the one probe that finds out brings it back for
    // both gateways within a few reads, not after the other's own claim
    // lapses and it probes too (a cooldown period later).
    let failed_at_bad = bad.count();
    *bad.mode.lock().expect("lock") = Mode::Answer;
    let deadline = Instant::now() + Duration::from_millis(COOL_MS * 2 + 2_000);
    while bad.count() == failed_at_bad {
        assert!(Instant::now() < deadline, "no probe went out");
        for gw in [&a, &b] {
            assert!(burst(gw, &key, 4).await.iter().all(|s| *s == 200));
            sent += 4;
        }
    }
    let probed_at = Instant::now();
    for gw in [&a, &b] {
        until_status(gw, "m/bad", "healthy", 1).await;
    }
    assert!(
        probed_at.elapsed() < Duration::from_millis(COOL_MS),
        "both back in service before a second probe could be claimed"
    );
    assert_eq!(a.stop().0, 0);
    let (code, log) = b.stop();
    assert_eq!(code, 0, "{log:?}");
    let rows = route_rows(&db.dsn).await;
    assert_eq!(
        rows.len(),
        sent,
        "one row per client request, both gateways"
    );
    assert!(rows.iter().all(|r| r.status_code == 200));
    let failed: i64 = rows.iter().map(|r| r.attempts - 1).sum();
    assert_eq!(
        failed as usize, failed_at_bad,
        "every failure of the bad deployment is an attempt in some row"
    );
    assert!(rows.iter().any(|r| r.provider == "bad" && r.attempts == 1));
}

#[tokio::test]
async fn redis_lost_leaves_each_gateway_its_own_cooldowns() {
    const COOL_MS: u64 = 600;
    let r = redis::start("redis-server").expect("a Redis of this test's own");
    let db = TestDb::sqlite();
    let (bad, good) = (Switch::new(Mode::Status(500)), Switch::new(Mode::Answer));
    let gw = Gateway::start(&db.dsn, &config(&bad, &good, &r.addr(), COOL_MS).await);
    let key = gw.key.clone().expect("key");
    until_shared(&gw, 5).await;
    r.signal("KILL");
    let mut sent = 0;
    // One at a time until the second failure cools the bad one down.
    while bad.count() < 2 {
        assert_eq!(burst(&gw, &key, 1).await, [200]);
        sent += 1;
        assert!(sent < 200, "the bad deployment was never picked");
    }
    let cooled_at = bad.times.lock().expect("lock")[1];
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(COOL_MS * 5) {
        let statuses = burst(&gw, &key, 8).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        sent += 8;
    }
    let probes = probes_once_per_period(&bad, cooled_at, COOL_MS);
    assert!(
        probes >= 2,
        "local cooldowns still end in a probe (no hold is left waiting for Redis): {probes}"
    );
    let (status, message) = component(&gw, "routing_cooldowns").await;
    assert_eq!(status, "degraded", "{message}");
    assert!(message.contains("unreachable"), "{message}");
    // Redis back: shared again.
    r.restart();
    until_shared(&gw, 10).await;
    let (code, log) = gw.stop();
    assert_eq!(code, 0, "{log:?}");
    let count = |needle: &str| log.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(count("cooldowns are no longer shared"), 1, "{log:?}");
    assert_eq!(
        count("cooldowns shared with the other gateways"),
        2,
        "{log:?}"
    );
    let rows = route_rows(&db.dsn).await;
    assert_eq!(rows.len(), sent, "one row per client request");
    assert!(rows.iter().all(|r| r.status_code == 200));
}

/// A Redis that never answered (nothing listens on its port): the gateway
/// starts, cools down on its own evidence, and says so once.
#[tokio::test]
async fn a_gateway_starts_and_routes_with_redis_unreachable() {
    const COOL_MS: u64 = 600;
    let db = TestDb::sqlite();
    let nowhere = format!("127.0.0.1:{}", crate::support::free_port());
    let (bad, good) = (Switch::new(Mode::Status(500)), Switch::new(Mode::Answer));
    let gw = Gateway::start(&db.dsn, &config(&bad, &good, &nowhere, COOL_MS).await);
    let key = gw.key.clone().expect("key");
    let mut sent = 0;
    while bad.count() < 2 {
        assert_eq!(burst(&gw, &key, 1).await, [200]);
        sent += 1;
        assert!(sent < 200, "the bad deployment was never picked");
    }
    let cooled_at = bad.times.lock().expect("lock")[1];
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(COOL_MS * 3) {
        let statuses = burst(&gw, &key, 8).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        sent += 8;
    }
    assert!(probes_once_per_period(&bad, cooled_at, COOL_MS) >= 1);
    until_status(&gw, "routing_cooldowns", "degraded", 5).await;
    let (code, log) = gw.stop();
    assert_eq!(code, 0, "{log:?}");
    let warned = log
        .iter()
        .filter(|l| l.contains("cooldowns are not shared yet"))
        .count();
    assert_eq!(warned, 1, "{log:?}");
    assert_eq!(
        route_rows(&db.dsn).await.len(),
        sent,
        "one row per client request"
    );
}
