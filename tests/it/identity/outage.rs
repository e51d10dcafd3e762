//! The identity database down under a running gateway (issue #29, item 6):
//! keys the gateway has cached keep answering without any request waiting
//! on the database, past their TTL too; an outage costs at most one
//! request a wait, not every request 250 ms.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::gateway::harness::Gateway;
use crate::support::{TestDb, pg};

/// Short, so the cached key is stale for most of the test.
const TTL: Duration = Duration::from_millis(300);

/// One chat completion through the mock; status and how long it took.
async fn timed_call(c: &reqwest::Client, gw: &Gateway, key: &str) -> (u16, Duration) {
    let start = Instant::now();
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("the gateway answers");
    let status = r.status().as_u16();
    let _ = r.bytes().await;
    (status, start.elapsed())
}

#[tokio::test]
async fn cached_keys_answer_without_waiting_while_identity_is_down() {
    let cluster = pg::private();
    let identity = cluster.fresh_database().await;
    let ledger = TestDb::sqlite();
    let extra = format!("[auth]\ncache_ttl_ms = {}\n", TTL.as_millis());
    let gw = Gateway::start_split(&ledger.dsn, &identity, &extra, &[]);
    let key = gw.key.clone().expect("bootstrap key");
    let c = reqwest::Client::new();
    assert_eq!(timed_call(&c, &gw, &key).await.0, 200);

    cluster.stop();
    // Past the TTL and past the one-second back-off of any failure so far:
    // every lookup from here on finds the database down.
    tokio::time::sleep(TTL + Duration::from_millis(1_300)).await;
    // The outage's first lookup may wait (at most the stale-refresh limit).
    let (status, first) = timed_call(&c, &gw, &key).await;
    assert_eq!(status, 200, "a cached key works without the database");
    assert!(
        first < Duration::from_secs(2),
        "the first request took {first:?}"
    );
    let mut took = Vec::new();
    for _ in 0..20 {
        let (status, t) = timed_call(&c, &gw, &key).await;
        assert_eq!(status, 200, "stale but served");
        took.push(t);
        // Spread over more than one back-off period, so probes happen.
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let slow: Vec<_> = took
        .iter()
        .filter(|t| **t >= Duration::from_millis(100))
        .collect();
    assert!(
        slow.is_empty(),
        "requests waited on the down identity database: {slow:?} of {took:?}"
    );
    let (code, log) = gw.stop();
    assert_eq!(code, 0, "{log:?}");
    let warned = log
        .iter()
        .filter(|l| l.contains("identity lookup failed"))
        .count();
    assert_eq!(warned, 1, "the outage is logged once: {log:?}");
}
