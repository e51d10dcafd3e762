//! Redis hung (SIGSTOP) or gone (killed) under a running gateway (issue
//! #29, item 7), each on a Redis of the test's own: requests keep
//! answering fast (a short per-call timeout, then a breaker that skips
//! Redis), the instance's share of the limit applies meanwhile
//! (`expected_instances = 2` halves the key's burst), and once Redis is
//! back the shared limit is used again.

use std::time::{Duration, Instant};

use serde_json::json;

use super::key_with_limits;
use crate::gateway::harness::Gateway;
use crate::support::{TestDb, redis};

/// The key's burst through Redis, and each instance's share without it.
const SHARED_BURST: &str = "10";
const LOCAL_BURST: &str = "5";

/// One request: status, `x-ratelimit-limit` (when sent) and time taken.
async fn call(c: &reqwest::Client, gw: &Gateway, key: &str) -> (u16, Option<String>, Duration) {
    let start = Instant::now();
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("the gateway answers");
    let status = r.status().as_u16();
    let limit = r
        .headers()
        .get("x-ratelimit-limit")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let _ = r.bytes().await;
    (status, limit, start.elapsed())
}

async fn redis_trouble_is_cheap_and_falls_back(fault: &str, recover: impl FnOnce(&redis::Server)) {
    let r = redis::start("redis-server").expect("a Redis of this test's own");
    let db = TestDb::sqlite();
    // The new keys by environment, which a binary without them ignores
    // (with a warning) rather than refusing to start: so this test shows
    // what such a binary does with Redis in trouble.
    let gw = Gateway::start_with_env(
        &db.dsn,
        &format!(
            "[rate_limit]\nenabled = true\nuser_rps = 1000.0\nredis_addr = \"{}\"\n",
            r.addr()
        ),
        &[
            ("TOKCTL_RATE_LIMIT_EXPECTED_INSTANCES", "2"),
            ("TOKCTL_RATE_LIMIT_REDIS_BREAKER_BACKOFF_MS", "300"),
        ],
    );
    // One request a second, bursts of 10: the burst decides the test.
    let key = key_with_limits(&gw, &db.dsn, &["--rps", "1", "--burst", SHARED_BURST]);
    let c = reqwest::Client::new();
    let (status, limit, _) = call(&c, &gw, &key).await;
    assert_eq!((status, limit.as_deref()), (200, Some(SHARED_BURST)));

    r.signal(fault);
    let mut seen = Vec::new();
    let start = Instant::now();
    for _ in 0..16 {
        seen.push(call(&c, &gw, &key).await);
    }
    let total = start.elapsed();
    let mut times: Vec<Duration> = seen.iter().map(|s| s.2).collect();
    times.sort();
    let (median, slowest) = (times[times.len() / 2], times[times.len() - 1]);
    // Generous bounds: the fix answers in a few ms after the first calls;
    // without it each call waited 1 s (hung) or ~150 ms (refused).
    assert!(
        slowest < Duration::from_millis(500)
            && median < Duration::from_millis(50)
            && total < Duration::from_secs(3),
        "Redis {fault}: requests waited on it (median {median:?}, slowest {slowest:?}, \
         16 took {total:?}): {seen:?}"
    );
    // The first calls fail (timeout or refused) and are admitted without
    // limits (fail_open); then the breaker opens and the instance's share
    // decides: its burst of 5 (plus at most one refill), then 429s.
    let local: Vec<u16> = seen
        .iter()
        .filter(|s| s.1.as_deref() == Some(LOCAL_BURST))
        .map(|s| s.0)
        .collect();
    let admitted = local.iter().filter(|s| **s == 200).count();
    assert!(
        (5..=6).contains(&admitted) && local.contains(&429),
        "Redis {fault}: the local share (burst {LOCAL_BURST}) should apply: {seen:?}"
    );
    let metrics = c
        .get(gw.url("/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let skipped: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tokctl_rate_limit_store_skipped_total "))
        .and_then(|v| v.parse().ok())
        .expect("the skipped-checks counter");
    assert!(skipped >= local.len() as f64, "{skipped} < {}", local.len());

    recover(&r);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, limit, _) = call(&c, &gw, &key).await;
        if limit.as_deref() == Some(SHARED_BURST) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Redis {fault}: the shared limit did not come back within 10 s (last limit {limit:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, log) = gw.stop();
    assert_eq!(code, 0, "{log:?}");
    let count = |needle: &str| log.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(count("skipping it"), 1, "the breaker opens once: {log:?}");
    assert_eq!(count("answers again"), 1, "and closes once: {log:?}");
}

#[tokio::test]
async fn redis_hung_answers_fast_with_the_local_share() {
    redis_trouble_is_cheap_and_falls_back("STOP", |r| r.signal("CONT")).await;
}

#[tokio::test]
async fn redis_gone_answers_fast_with_the_local_share() {
    redis_trouble_is_cheap_and_falls_back("KILL", redis::Server::restart).await;
}
