//! Routing end to end: several deployments per model on real upstream
//! servers: weights, the latency strategy, config errors, and the helpers
//! the failover tests (`routing_failover`) share. One ledger row per
//! client request in every test.

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::cases::{chat, client};
use super::harness::Gateway;
use super::routing_upstream::{Mode, Switch, route_rows};
/// An OpenAI-compatible provider `name` at `base` with no retries of its own.
pub fn provider(name: &str, base: &str) -> String {
    format!(
        "[providers.{name}]\nkind = \"openai\"\nbase_url = \"{base}\"\nmax_retries = 0\ntimeout_ms = 2000\n"
    )
}

/// A model `m` over deployments `(provider, weight)`.
pub fn model(name: &str, deployments: &[(&str, u32)], extra: &str) -> String {
    let mut s = format!(
        "[[models]]\nname = \"{name}\"\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n{extra}\n"
    );
    for (p, w) in deployments {
        s.push_str(&format!(
            "[[models.deployments]]\nprovider = \"{p}\"\nweight = {w}\n"
        ));
    }
    s
}

pub async fn post(gw: &Gateway, model: &str, stream: bool) -> reqwest::Response {
    client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(gw.key.as_deref().unwrap_or(""))
        .json(&chat(model, stream))
        .send()
        .await
        .expect("request")
}

pub fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Sends `n` requests, `concurrency` at a time; returns their statuses.
pub async fn burst(gw: &Gateway, model: &str, n: usize, concurrency: usize) -> Vec<u16> {
    let url = gw.url("/v1/chat/completions");
    let key = gw.key.clone().unwrap_or_default();
    let c = client();
    futures_util::stream::iter(0..n)
        .map(|_| {
            let (c, url, key) = (c.clone(), url.clone(), key.clone());
            async move {
                let r = c
                    .post(url)
                    .bearer_auth(key)
                    .json(&chat(model, false))
                    .send()
                    .await;
                r.map_or(0, |r| r.status().as_u16())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

/// Weights 3:1 over 4,000 requests: 75 % ± 3 % to the first; one row each.
#[tokio::test]
async fn weights_split_the_traffic() {
    let db = crate::support::TestDb::sqlite();
    let (a, b) = (Switch::new(Mode::Answer), Switch::new(Mode::Answer));
    let cfg = format!(
        "{}{}{}",
        provider("a", &a.start().await),
        provider("b", &b.start().await),
        model("m", &[("a", 3), ("b", 1)], "")
    );
    let gw = Gateway::start(&db.dsn, &cfg);
    let r = post(&gw, "m", false).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-tokctl-attempts"), "1");
    let d = header(&r, "x-tokctl-deployment").to_string();
    assert!(d == "a" || d == "b", "{d}");
    assert_eq!(
        header(&r, "x-tokctl-provider"),
        d,
        "named after the provider"
    );
    let statuses = burst(&gw, "m", 4000, 16).await;
    assert!(statuses.iter().all(|s| *s == 200));
    let total = a.count() + b.count();
    assert_eq!(total, 4001);
    let share = a.count() as f64 / total as f64;
    assert!(
        (share - 0.75).abs() <= 0.03,
        "share of the weight-3 deployment: {share}"
    );
    assert_eq!(gw.stop().0, 0);
    let rows = route_rows(&db.dsn).await;
    assert_eq!(rows.len(), 4001, "one row per client request");
    assert!(
        rows.iter()
            .all(|r| r.attempts == 1 && r.failed_attempts.is_none())
    );
    let by_a = rows.iter().filter(|r| r.provider == "a").count();
    assert_eq!(
        by_a,
        a.count(),
        "the ledger names the serving deployment's provider"
    );
    // `ledger summary --by provider` splits the requests the same way.
    let out = crate::support::Tokctl::new()
        .config(&format!(
            "[ledger]\npath = \"{0}\"\n[identity]\npath = \"{0}\"\n",
            db.dsn
        ))
        .run(&["ledger", "summary", "--by", "provider", "--json"]);
    let summary: Vec<serde_json::Value> =
        serde_json::from_str(&out.expect_code(0).stdout).expect("summary JSON");
    let requests = |p: &str| {
        summary
            .iter()
            .find(|r| r["provider"] == p)
            .and_then(|r| r["requests"].as_u64())
            .unwrap_or(0) as usize
    };
    assert_eq!(
        (requests("a"), requests("b")),
        (a.count(), b.count()),
        "{summary:?}"
    );
}

/// `latency`: with one upstream at 1 ms and the other at 20 ms, at least
/// 80 % goes to the fast one, and it shifts within seconds when they swap.
/// The upstreams get threads of their own, and requests go one at a time,
/// so that the test's own scheduling adds little to the latencies measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_strategy_follows_the_fast_upstream() {
    let db = crate::support::TestDb::sqlite();
    let (a, b) = (Switch::new(Mode::Answer), Switch::new(Mode::Answer));
    let set = |fast: &Switch, slow: &Switch| {
        fast.delay_ms.store(1, std::sync::atomic::Ordering::SeqCst);
        slow.delay_ms.store(20, std::sync::atomic::Ordering::SeqCst);
    };
    set(&a, &b);
    let cfg = format!(
        "{}{}{}[routing]\nstrategy = \"latency\"\nlatency_decay_ms = 500\n",
        provider("a", &a.start().await),
        provider("b", &b.start().await),
        model("m", &[("a", 1), ("b", 1)], "")
    );
    let gw = Gateway::start(&db.dsn, &cfg);
    // Warm-up: both get measured.
    let mut sent = burst(&gw, "m", 20, 1).await.len();
    let (first, n) = median_share(&gw, &a, &b).await;
    sent += n;
    assert!(first >= 0.8, "median share of the fast upstream: {first}");
    // Swapped: measured from the moment of the swap.
    set(&b, &a);
    let (swapped, n) = median_share(&gw, &b, &a).await;
    sent += n;
    assert!(
        swapped >= 0.8,
        "after the swap, median share of the new fast upstream: {swapped}"
    );
    assert_eq!(gw.stop().0, 0);
    assert_eq!(route_rows(&db.dsn).await.len(), sent);
}

/// The fast upstream's share of traffic (one request at a time) in three
/// windows of 2 s, the median of the three (a machine shared with other
/// builds adds latency spikes of its own: one window may catch one), and
/// the requests sent.
async fn median_share(gw: &Gateway, fast: &Switch, slow: &Switch) -> (f64, usize) {
    let mut shares = Vec::new();
    let mut n = 0;
    for _ in 0..3 {
        let (f0, s0) = (fast.count(), slow.count());
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(2) {
            let statuses = burst(gw, "m", 8, 1).await;
            assert!(statuses.iter().all(|s| *s == 200));
            n += 8;
        }
        let (f, s) = (fast.count() - f0, slow.count() - s0);
        shares.push(f as f64 / (f + s) as f64);
    }
    eprintln!("shares of the fast upstream, per 2 s window: {shares:?}");
    shares.sort_by(f64::total_cmp);
    (shares[1], n)
}

/// Config errors name the key.
#[test]
fn routing_config_errors_name_the_key() {
    let base = "[providers.p]\nkind = \"mock\"\n";
    let cases = [
        (
            "[[models]]\nname = \"m\"\n[[models.deployments]]\nprovider = \"nope\"\n",
            "models.m.deployments[0].provider",
        ),
        (
            "[[models]]\nname = \"m\"\n[[models.deployments]]\nprovider = \"p\"\nweight = 0\n",
            "models.m.deployments[0].weight",
        ),
        ("[[models]]\nname = \"m\"\n", "models.m"),
        (
            "[[models]]\nname = \"m\"\n[[models.deployments]]\nprovider = \"p\"\n[[models.deployments]]\nprovider = \"p\"\n",
            "models.m.deployments[1].name",
        ),
        (
            "[[models]]\nname = \"m\"\nprovider = \"p\"\nfallbacks = [\"n\"]\n\
             [[models]]\nname = \"n\"\nprovider = \"p\"\nfallbacks = [\"m\"]\n",
            "models.m.fallbacks",
        ),
        (
            "[[models]]\nname = \"m\"\nprovider = \"p\"\ncontext_window_fallbacks = [\"x\"]\n",
            "models.m.context_window_fallbacks",
        ),
        (
            "[[models]]\nname = \"m\"\nprovider = \"p\"\n[routing]\ncooldown_sync_ms = 5\n",
            "routing.cooldown_sync_ms",
        ),
    ];
    for (models, key) in cases {
        let out = crate::support::Tokctl::new()
            .config(&format!("{base}{models}"))
            .run(&["config", "check"]);
        assert_eq!(out.code, 2, "{models}: {}", out.stderr);
        assert!(
            out.stderr.contains(key),
            "{models}: names {key}: {}",
            out.stderr
        );
    }
}
