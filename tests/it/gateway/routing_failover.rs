//! Failover end to end: only while nothing reached the client, cooldowns
//! with one probe per period, 503 `no_deployment_available`, fallback
//! models, a streamed 429 failed over for the official OpenAI SDK; one
//! ledger row per client request with its attempts.

use serde_json::Value;

use super::cases::client;
use super::harness::{Gateway, Hangup, Upstream, start_raw_upstream, start_upstream};
use super::routing::{burst, header, model, post, provider};
use super::routing_upstream::{Mode, Switch, route_rows};
use std::time::{Duration, Instant};

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
