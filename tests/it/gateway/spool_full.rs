//! A spool disk that fills up during a database outage (#29, fault 1):
//! the spool on a 1 MiB tmpfs in a private mount namespace, the ledger's
//! PostgreSQL stopped, steady load. New requests are refused with 503
//! `ledger_unavailable` before the upstream is called, `/readyz` says 503,
//! the gateway recovers without a restart once the database is back, and
//! SIGTERM ends it in bounded time while it is stuck.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::chain::{component, health};
use super::harness::{Gateway, Upstream, start_upstream};
use super::ledger_rows::rows;
use crate::support::pg;

const BODY: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;

/// What the load saw.
#[derive(Default)]
struct Seen {
    answered: Vec<String>,
    refused: Vec<String>,
    /// Client timeouts (answers stuck behind the full disk).
    gave_up: u64,
    other: Vec<u16>,
}

/// `clients` loops posting until `stop`; each request gives up after 2 s.
fn load(
    gw: &Gateway,
    key: &str,
    clients: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Seen>> {
    (0..clients)
        .map(|_| {
            let (url, key, stop) = (
                gw.url("/v1/chat/completions"),
                key.to_string(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let c = reqwest::Client::builder()
                    .timeout(Duration::from_secs(2))
                    .build()
                    .expect("client");
                let mut seen = Seen::default();
                while !stop.load(Ordering::Relaxed) {
                    let sent = c
                        .post(&url)
                        .bearer_auth(&key)
                        .header("content-type", "application/json")
                        .body(BODY)
                        .send()
                        .await;
                    let Ok(r) = sent else {
                        seen.gave_up += 1;
                        continue;
                    };
                    let id = r
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let status = r.status().as_u16();
                    let retry_after = r.headers().contains_key("retry-after");
                    let body = r.text().await.unwrap_or_default();
                    match status {
                        200 => seen.answered.push(id),
                        503 if body.contains("\"ledger_unavailable\"") && retry_after => {
                            seen.refused.push(id);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        s => seen.other.push(s),
                    }
                }
                seen
            })
        })
        .collect()
}

/// One chat completion; its status.
async fn chat(c: &reqwest::Client, gw: &Gateway, key: &str) -> u16 {
    c.post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(BODY)
        .send()
        .await
        .expect("send")
        .status()
        .as_u16()
}

async fn join(tasks: Vec<tokio::task::JoinHandle<Seen>>) -> Seen {
    let mut all = Seen::default();
    for t in tasks {
        let s = tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("the load ends")
            .expect("load task");
        all.answered.extend(s.answered);
        all.refused.extend(s.refused);
        all.gave_up += s.gave_up;
        all.other.extend(s.other);
    }
    all
}

/// Starts the gateway with its spool on a 1 MiB tmpfs, the ledger on
/// `dsn`, the upstream `base` serving model `m`.
fn gateway(dsn: &str, base: &str) -> Gateway {
    let dir = tempfile::tempdir().expect("temp dir");
    let mount = dir.path().join("spool-disk");
    let extra = format!(
        "[ledger.async]\nflush_ms = 100\nfull_wait_ms = 300\n\
         [ledger.spool]\ndir = \"{}\"\n\
         [providers.up]\nkind = \"openai\"\nbase_url = \"{base}\"\nmax_retries = 0\n\
         [[models]]\nname = \"m\"\nprovider = \"up\"\n",
        mount.display()
    );
    // Keys stay cached through the outage (the identity database is down too).
    let env = [("TOKCTL_AUTH_CACHE_TTL_MS", "600000")];
    Gateway::start_on_tmpfs(dir, dsn, &extra, &env, &mount, "1m")
}

/// Polls `load` until `enough` requests were refused, at most 90 s.
async fn wait_for_refusals(gw: &Gateway, tasks: &[tokio::task::JoinHandle<Seen>]) {
    let c = reqwest::Client::new();
    let until = Instant::now() + Duration::from_secs(90);
    loop {
        let page = super::chain::metrics_page(&c, gw).await;
        let refused = super::chain::metric(&page, "tokctl_ledger_refused_requests_total");
        if refused >= 20.0 {
            return;
        }
        assert!(
            Instant::now() < until,
            "no request was refused in 90 s of load on a full spool disk (refused {refused}); \
             {} load tasks",
            tasks.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A gateway whose spool disk has filled during a PostgreSQL outage, under
/// load that keeps running until `stop`.
struct Stuck {
    cluster: pg::Cluster,
    dsn: String,
    up: Upstream,
    gw: Gateway,
    key: String,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Seen>>,
}

/// Starts the gateway, warms its key cache, stops the database and loads
/// it until requests are refused.
async fn stuck() -> Stuck {
    let cluster = pg::private();
    let dsn = cluster.fresh_database().await;
    let up = Upstream::default();
    let base = start_upstream(up.clone()).await;
    let gw = gateway(&dsn, &base);
    let key = gw.key.clone().expect("bootstrap key");
    let c = reqwest::Client::new();
    assert_eq!(chat(&c, &gw, &key).await, 200, "warm the key cache");
    cluster.stop();
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = load(&gw, &key, 6, &stop);
    wait_for_refusals(&gw, &tasks).await;
    Stuck {
        cluster,
        dsn,
        up,
        gw,
        key,
        stop,
        tasks,
    }
}

#[tokio::test]
async fn a_full_spool_disk_refuses_before_the_upstream_and_recovers() {
    let Stuck {
        cluster,
        dsn,
        up,
        gw,
        key,
        stop,
        tasks,
    } = stuck().await;
    let c = reqwest::Client::new();
    let ready = c.get(gw.url("/readyz")).send().await.expect("readyz");
    assert_eq!(
        ready.status(),
        503,
        "not ready while entries cannot be kept"
    );
    let (_, report) = health(&c, &gw).await;
    let (status, message) = component(&report, "ledger_writer");
    assert_eq!(status, "unhealthy", "{report}");
    assert!(message.contains("503 ledger_unavailable"), "{message}");

    // The database returns: the backlog drains, the committed segment is
    // dropped, and new requests are admitted again, with no restart.
    cluster.restart();
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let r = c.get(gw.url("/readyz")).send().await.expect("readyz");
        if r.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < until,
            "not ready 60 s after the database returned"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = join(tasks).await;
    assert!(
        seen.other.is_empty(),
        "only 200 and 503 ledger_unavailable: {:?}",
        seen.other
    );
    assert!(!seen.refused.is_empty());
    assert_eq!(
        chat(&c, &gw, &key).await,
        200,
        "served again without a restart"
    );
    let (code, lines) = gw.stop();
    assert_eq!(code, 0, "{lines:?}");

    // Every upstream call left exactly one row; no refused request did.
    let rows = rows(&dsn).await;
    let called = up.received.lock().expect("lock").len();
    assert_eq!(rows.len(), called, "one row per upstream call");
    let ids: std::collections::HashSet<&str> = rows.iter().map(|r| r.request_id.as_str()).collect();
    for id in &seen.answered {
        assert!(ids.contains(id.as_str()), "answered {id} has no row");
    }
    for id in &seen.refused {
        assert!(!ids.contains(id.as_str()), "refused {id} has a row");
    }
    assert!(
        rows.iter().all(|r| r.status_code == 200),
        "only answered calls were made"
    );
}

#[tokio::test]
async fn sigterm_ends_a_gateway_stuck_on_a_full_spool_disk_in_bounded_time() {
    let Stuck {
        cluster: _cluster,
        gw,
        stop,
        tasks,
        ..
    } = stuck().await;
    // shutdown_timeout_ms is 5 s in the harness; a small margin on top.
    let t0 = Instant::now();
    let (code, lines) = tokio::task::spawn_blocking(move || gw.stop())
        .await
        .expect("stop");
    let took = t0.elapsed();
    eprintln!("SIGTERM to exit on a stuck spool: {took:?}");
    stop.store(true, Ordering::Relaxed);
    let _ = join(tasks).await;
    assert!(
        took < Duration::from_secs(10),
        "SIGTERM took {took:?} on a stuck spool: {lines:?}"
    );
    assert_eq!(code, 0, "{lines:?}");
}
