//! A gateway (re)started while its PostgreSQL is down (#29, fault 2): with
//! the spool on it starts, authenticates from the identity snapshot,
//! spools, says degraded, and writes everything once the database returns;
//! with the spool off it refuses to start and says why.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::chain::{complete, component, health, tokctl_in, verify};
use super::harness::Gateway;
use super::ledger_rows::rows;
use crate::support::pg;

#[tokio::test]
async fn a_restart_during_a_postgres_outage_serves_from_the_spool_and_snapshot() {
    let cluster = pg::private();
    let dsn = cluster.fresh_database().await;
    let extra = "[ledger.async]\nflush_ms = 100\n";
    let gw = Gateway::start(&dsn, extra);
    let key = gw.key.clone().expect("bootstrap key");
    let url = gw.url("/v1/chat/completions");
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let first = complete(&c, &url, &key)
        .await
        .expect("served before the outage");
    let dir = gw.stop_keep_dir();
    assert!(
        dir.path().join("data/identity-snapshot.json").exists(),
        "the identity snapshot is written while the database answers"
    );

    cluster.stop();
    let gw = Gateway::start_in(dir, &dsn, extra, &[]);
    let url = gw.url("/v1/chat/completions");
    let mut answered = HashSet::from([first]);
    for _ in 0..20 {
        let id = complete(&c, &url, &key)
            .await
            .expect("a known key is served during the outage");
        answered.insert(id);
    }
    let unknown = c
        .post(&url)
        .bearer_auth("tok_not_a_key_anyone_made_0000000000000")
        .header("content-type", "application/json")
        .body(r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(
        unknown.status(),
        503,
        "an unknown key cannot be checked: 503, not 401"
    );
    let (code, report) = health(&c, &gw).await;
    assert_eq!(code, 200, "degraded, not unhealthy: {report}");
    let (status, message) = component(&report, "ledger_writer");
    assert_eq!(status, "degraded", "{report}");
    assert!(message.contains("started during an outage"), "{message}");

    cluster.restart();
    let until = Instant::now() + Duration::from_secs(60);
    let stored = loop {
        let stored = rows(&dsn).await;
        let ids: HashSet<String> = stored.iter().map(|r| r.request_id.clone()).collect();
        if answered.is_subset(&ids) {
            break stored;
        }
        assert!(
            Instant::now() < until,
            "{} of {} answered entries in the ledger 60 s after the database returned",
            answered.len() - answered.difference(&ids).count(),
            answered.len()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(stored.len(), answered.len(), "each entry once");
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, report) = health(&c, &gw).await;
        if component(&report, "ledger_writer").0 == "healthy" {
            break;
        }
        assert!(Instant::now() < until, "still not healthy: {report}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let dir = gw.stop_keep_dir();
    let (code, j) = verify(dir.path());
    assert_eq!(code, 0, "{j}");
}

#[tokio::test]
async fn without_the_spool_a_start_during_an_outage_is_refused_with_the_reason() {
    let cluster = pg::private();
    let dsn = cluster.fresh_database().await;
    let extra = "[ledger.spool]\nenabled = false\n";
    let gw = Gateway::start(&dsn, extra);
    let dir = gw.stop_keep_dir();
    cluster.stop();
    let out = tokctl_in(dir.path(), &["serve"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("cannot open the ledger database"),
        "{stderr}"
    );
    assert!(stderr.contains("ledger.spool.enabled"), "{stderr}");
}
