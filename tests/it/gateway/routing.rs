//! Routing end to end: several deployments per model on real upstream
//! servers, weights, failover before anything reached the client,
//! cooldowns with one probe, fallback models, and one ledger row per client
//! request with its attempts.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

use super::cases::{chat, client};
use super::harness::{Gateway, Hangup, Upstream, start_raw_upstream, start_upstream};
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

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Sends `n` requests, `concurrency` at a time; returns their statuses.
async fn burst(gw: &Gateway, model: &str, n: usize, concurrency: usize) -> Vec<u16> {
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
}

/// One of two deployments down (port closed, then answering 500): every
/// client request succeeds, and once it is cooling down the failing one
/// gets at most one probe per cooldown period.
#[tokio::test]
async fn a_dead_deployment_is_cooled_and_probed_once_per_period() {
    let db = crate::support::TestDb::sqlite();
    let port = crate::support::free_port();
    let good = Switch::new(Mode::Answer);
    let cfg = format!(
        "{}{}{}[routing]\ncooldown_after = 2\ncooldown_ms = 500\n",
        provider("dead", &format!("http://127.0.0.1:{port}/v1")),
        provider("good", &good.start().await),
        model("m", &[("dead", 1), ("good", 1)], "")
    );
    let gw = Gateway::start(&db.dsn, &cfg);
    let mut sent = 0;
    // Port closed: connection refused, failed over.
    for _ in 0..40 {
        let r = post(&gw, "m", false).await;
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
        sent += 1;
    }
    // Now it answers 500 to everything.
    let bad = Switch::new(Mode::Status(500));
    bad.start_at(&format!("127.0.0.1:{port}")).await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2600) {
        let statuses = burst(&gw, "m", 8, 4).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        sent += 8;
    }
    let elapsed = started.elapsed();
    // A cooldown was running when the 500s began; each period after it
    // lets one probe through (plus one for a period cut by the end).
    let periods = elapsed.as_millis() / 500 + 1;
    let probes = bad.count();
    assert!(probes >= 2, "probes went out: {probes}");
    assert!(
        probes as u128 <= periods,
        "{probes} requests reached the failing deployment in {elapsed:?} (cooldown 500 ms)"
    );
    assert_eq!(gw.stop().0, 0);
    let rows = route_rows(&db.dsn).await;
    assert_eq!(rows.len(), sent, "one row per client request");
    assert!(
        rows.iter()
            .all(|r| r.status_code == 200 && r.provider == "good")
    );
    let failed_over: Vec<_> = rows.iter().filter(|r| r.attempts == 2).collect();
    assert!(!failed_over.is_empty());
    let f = failed_over[0].failed_attempts.as_deref().unwrap_or("");
    assert!(f.contains("\"deployment\":\"dead\""), "{f}");
    assert!(
        rows.iter().filter(|r| r.attempts == 1).count() > failed_over.len(),
        "cooling down spared most requests the dead attempt"
    );
}

/// 429 with Retry-After cools a deployment for that long; with both cooling,
/// the answer is 503 `no_deployment_available` with Retry-After, and its row
/// has attempts = 0.
#[tokio::test]
async fn all_cooling_is_503_no_deployment_available() {
    let db = crate::support::TestDb::sqlite();
    let (a, b) = (
        Switch::new(Mode::RateLimited(30)),
        Switch::new(Mode::RateLimited(20)),
    );
    let cfg = format!(
        "{}{}{}",
        provider("a", &a.start().await),
        provider("b", &b.start().await),
        model("m", &[("a", 1), ("b", 1)], "")
    );
    let gw = Gateway::start(&db.dsn, &cfg);
    let r = post(&gw, "m", false).await;
    assert_eq!(r.status(), 429, "the last upstream's own answer");
    assert_eq!(header(&r, "x-tokctl-attempts"), "2");
    let r = post(&gw, "m", false).await;
    assert_eq!(r.status(), 503);
    let wait: u64 = header(&r, "retry-after").parse().expect("Retry-After");
    assert!((15..=20).contains(&wait), "the soonest end: {wait}");
    assert_eq!(header(&r, "x-tokctl-attempts"), "0");
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["code"], "no_deployment_available", "{v}");
    assert_eq!(a.count() + b.count(), 2, "nothing sent while cooling");
    // Visible: /health lists the deployments, cooling ones degraded; the
    // metrics carry them; `tokctl health` shows them.
    let h: Value = client()
        .get(gw.url("/health"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(h["status"], "degraded", "{h}");
    let a_health = h["components"]
        .as_array()
        .expect("components")
        .iter()
        .find(|c| c["name"] == "m/a")
        .unwrap_or_else(|| panic!("m/a listed: {h}"));
    assert_eq!(
        (a_health["type"].as_str(), a_health["status"].as_str()),
        (Some("deployment"), Some("degraded"))
    );
    let metrics = client()
        .get(gw.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for line in [
        "tokctl_deployment_cooling{model=\"m\",deployment=\"a\",provider=\"a\"} 1",
        "tokctl_deployment_failures_total{model=\"m\",deployment=\"b\",provider=\"b\",error=\"upstream_429\"} 1",
        "tokctl_deployment_requests_total{model=\"m\",deployment=\"b\",provider=\"b\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    let out =
        crate::support::Tokctl::new().run(&["health", "--url", &format!("http://{}", gw.addr)]);
    assert_eq!(out.code, 1, "degraded: {}", out.stdout);
    assert!(
        out.stdout.contains("m/b") && out.stdout.contains("cooling down"),
        "{}",
        out.stdout
    );
    assert_eq!(gw.stop().0, 0);
    let rows = route_rows(&db.dsn).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].attempts, 2);
    assert_eq!(rows[1].attempts, 0);
    assert_eq!(
        rows[1].error_kind.as_deref(),
        Some("no_deployment_available")
    );
}

/// A timeout or a connection dropped after the request was sent is not
/// failed over by default (the upstream may have billed it), and is with
/// `routing.failover_after_send = true`.
#[tokio::test]
async fn failover_after_send_only_when_allowed() {
    for allowed in [false, true] {
        let db = crate::support::TestDb::sqlite();
        let (closing, count, _) = start_raw_upstream(Hangup::Close).await;
        let hang = Switch::new(Mode::Answer);
        hang.delay_ms
            .store(5_000, std::sync::atomic::Ordering::SeqCst);
        let good = Switch::new(Mode::Answer);
        let cfg = format!(
            "{}{}{}{}{}[routing]\nfailover_after_send = {allowed}\n",
            provider("closing", &closing),
            provider("hang", &hang.start().await).replace("timeout_ms = 2000", "timeout_ms = 300"),
            provider("good", &good.start().await),
            model(
                "c",
                &[("closing", 1), ("good", 1)],
                "strategy = \"least_inflight\""
            ),
            model(
                "h",
                &[("hang", 1), ("good", 1)],
                "strategy = \"least_inflight\""
            ),
        );
        let gw = Gateway::start(&db.dsn, &cfg);
        let mut expected = Vec::new();
        // Until the failing one was picked first once for each model.
        for (m, failing) in [("c", "closing"), ("h", "hang")] {
            for _ in 0..20 {
                let r = post(&gw, m, false).await;
                let attempts = header(&r, "x-tokctl-attempts").to_string();
                let status = r.status().as_u16();
                expected.push(status);
                if attempts == "2" || status != 200 {
                    if allowed {
                        assert_eq!((status, attempts.as_str()), (200, "2"), "{m}");
                    } else {
                        assert!(status == 502 || status == 504, "{m}: {status}");
                        assert_eq!(attempts, "1", "{m}: not sent twice");
                    }
                    break;
                }
                assert_ne!(header(&r, "x-tokctl-deployment"), failing);
            }
        }
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(hang.count(), 1);
        assert_eq!(gw.stop().0, 0);
        let rows = route_rows(&db.dsn).await;
        assert_eq!(rows.len(), expected.len(), "one row per client request");
    }
}

/// Fallback models: when every deployment of `big` failed, `small` serves;
/// a prompt too long for `big` goes to its context-window fallback. The
/// row says what served and what was asked for. Deployments of different
/// kinds mix: an Anthropic one serves a Chat client, translated.
#[tokio::test]
async fn fallbacks_and_mixed_providers_serve() {
    let db = crate::support::TestDb::sqlite();
    let down = Switch::new(Mode::Status(503));
    let long = Switch::new(Mode::TooLong);
    let claude = Upstream::default();
    let cfg = format!(
        "{}{}{}[providers.claude]\nkind = \"anthropic\"\nbase_url = \"{}\"\nmax_retries = 0\n\
         {}{}{}",
        provider("down", &down.start().await),
        provider("long", &long.start().await),
        provider("down2", &down.start().await),
        start_upstream(claude.clone()).await,
        model(
            "big",
            &[("down", 1), ("down2", 1)],
            "fallbacks = [\"small\"]"
        ),
        model(
            "short",
            &[("long", 1)],
            "context_window_fallbacks = [\"small\"]"
        ),
        "[[models]]\nname = \"small\"\ninput_per_mtok = 1.0\noutput_per_mtok = 1.0\n\
         [[models.deployments]]\nprovider = \"down\"\npriority = 0\n\
         [[models.deployments]]\nprovider = \"claude\"\nupstream_model = \"claude-x\"\npriority = 1\n\
         output_per_mtok = 100.0\n[routing]\nmax_attempts = 4\n",
    );
    let gw = Gateway::start(&db.dsn, &cfg);
    let r = post(&gw, "big", false).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-tokctl-provider"), "claude");
    assert_eq!(
        header(&r, "x-tokctl-attempts"),
        "4",
        "down, down2, then small's two tiers"
    );
    let v: Value = r.json().await.expect("json");
    assert_eq!(
        v["choices"][0]["message"]["content"], "Hello from Claude",
        "translated: {v}"
    );
    let r = post(&gw, "short", false).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-tokctl-deployment"), "claude");
    assert_eq!(gw.stop().0, 0);
    let rows = route_rows(&db.dsn).await;
    assert_eq!(rows.len(), 2);
    let big = &rows[0];
    assert_eq!(
        (big.model.as_str(), big.requested_model.as_deref()),
        ("small", Some("big"))
    );
    assert_eq!(big.attempts, 4);
    assert_eq!(big.upstream_model.as_deref(), Some("claude-x"));
    let f = big.failed_attempts.as_deref().unwrap_or("");
    assert!(f.contains("upstream_5xx") && f.contains("down2"), "{f}");
    // 12 output tokens at the deployment's own 100 per Mtok, input at the model's 1.
    let input = 25 + 100 + 5;
    assert_eq!(big.cost_nano, input * 1000 + 12 * 100_000);
    let short = &rows[1];
    assert_eq!(short.requested_model.as_deref(), Some("short"));
    assert!(
        short
            .failed_attempts
            .as_deref()
            .unwrap_or("")
            .contains("context_length")
    );
}

/// A streamed request whose first deployment answers 429 succeeds through
/// the second: the official OpenAI SDK sees one clean stream, and the
/// ledger has one row with attempts = 2.
#[tokio::test]
async fn a_streamed_429_fails_over_for_the_openai_sdk() {
    let db = crate::support::TestDb::sqlite();
    let limited = Switch::new(Mode::RateLimited(60));
    let streaming = Upstream {
        stream_usage: true,
        ..Upstream::default()
    };
    let cfg = format!(
        "{}{}{}",
        provider("limited", &limited.start().await),
        provider("streaming", &start_upstream(streaming.clone()).await),
        "[[models]]\nname = \"m\"\ninput_per_mtok = 1.0\noutput_per_mtok = 1.0\n\
         [[models.deployments]]\nname = \"first\"\nprovider = \"limited\"\n\
         [[models.deployments]]\nname = \"second\"\nprovider = \"streaming\"\npriority = 1\n",
    );
    let gw = Gateway::start(&db.dsn, &cfg);
    super::cases::run_sdk_script("sdk_route_failover.py", &gw).await;
    assert_eq!(limited.count(), 1);
    assert_eq!(gw.stop().0, 0);
    let rows = route_rows(&db.dsn).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].attempts, 2);
    assert!(rows[0].streamed);
    assert_eq!(rows[0].status_code, 200);
    assert_eq!(
        rows[0].failed_attempts.as_deref(),
        Some(r#"[{"deployment":"first","error":"upstream_429"}]"#)
    );
}

/// `latency`: with one upstream at 1 ms and the other at 20 ms, at least
/// 80 % goes to the fast one, and it shifts within seconds when they swap.
#[tokio::test]
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
    let mut sent = 0;
    // Warm-up: both get measured.
    burst(&gw, "m", 20, 2).await;
    sent += 20;
    let (first, n) = share(&gw, &a, &b).await;
    sent += n;
    assert!(first >= 0.8, "share of the fast upstream: {first}");
    set(&b, &a);
    // Give the estimate a second to notice, then measure.
    burst(&gw, "m", 40, 2).await;
    sent += 40;
    let (swapped, n) = share(&gw, &b, &a).await;
    sent += n;
    assert!(
        swapped >= 0.8,
        "after the swap, share of the new fast upstream: {swapped}"
    );
    assert_eq!(gw.stop().0, 0);
    assert_eq!(route_rows(&db.dsn).await.len(), sent);
}

/// The fast upstream's share of 3 s of traffic (2 at a time), and the
/// requests sent.
async fn share(gw: &Gateway, fast: &Switch, slow: &Switch) -> (f64, usize) {
    let (f0, s0) = (fast.count(), slow.count());
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(3) {
        let statuses = burst(gw, "m", 8, 2).await;
        assert!(statuses.iter().all(|s| *s == 200));
        n += 8;
    }
    let (f, s) = (fast.count() - f0, slow.count() - s0);
    (f as f64 / (f + s) as f64, n)
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
