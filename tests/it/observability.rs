//! Metrics and health end to end: the real `tokctl serve` on a free port,
//! known traffic through the mock provider, `/metrics` scraped and checked
//! against it (and by `promtool check metrics`), `/health` and `tokctl
//! health` through a healthy gateway, an unreachable provider and a
//! PostgreSQL that is stopped under the gateway.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::gateway::harness::Gateway;
use crate::gateway::ledger_rows::rows;
use crate::support::{TestDb, Tokctl, find_binary, free_port, pg};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hello"}]})
}

async fn post(c: &reqwest::Client, gw: &Gateway, key: &str, body: &Value) -> reqwest::Response {
    c.post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("request")
}

/// The sum of every sample of `name` (exactly) carrying all of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let series = l.rsplit_once(' ').map_or("", |(s, _)| s);
            let metric = series.split('{').next().unwrap_or("");
            metric == name
                && labels
                    .iter()
                    .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|l| {
            l.rsplit_once(' ')
                .and_then(|(_, v)| v.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("bad sample line {l}"))
        })
        .sum()
}

async fn scrape(c: &reqwest::Client, url: &str) -> String {
    let r = c.get(url).send().await.expect("scrape");
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    r.text().await.expect("body")
}

/// `promtool check metrics` on `text`; a missing promtool fails the test.
fn promtool_check(text: &str) {
    let promtool = find_binary("promtool", None).unwrap_or_else(|| {
        panic!("promtool not found on PATH: install the Debian package `prometheus`")
    });
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("write to promtool");
    }
    let out = child.wait_with_output().expect("promtool output");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- exposition\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn metrics_count_known_traffic() {
    const PLAIN: usize = 5;
    const STREAMED: usize = 3;
    let db = TestDb::sqlite();
    let gw = Gateway::start(&db.dsn, "[ledger.async]\nflush_ms = 50\n");
    let key = gw.key.clone().expect("bootstrap key");
    let c = client();
    for _ in 0..PLAIN {
        let r = post(&c, &gw, &key, &chat("gpt-4o-mini", false)).await;
        assert_eq!(r.status(), 200);
        r.bytes().await.expect("body");
    }
    for _ in 0..STREAMED {
        let r = post(&c, &gw, &key, &chat("gpt-4o-mini", true)).await;
        assert_eq!(r.status(), 200);
        r.bytes().await.expect("body");
    }
    let r = post(&c, &gw, &key, &chat("no-such-model", false)).await;
    assert_eq!(r.status(), 404);
    for _ in 0..2 {
        let r = post(&c, &gw, "tok_wrong", &chat("gpt-4o-mini", false)).await;
        assert_eq!(r.status(), 401);
    }
    let admitted = (PLAIN + STREAMED + 1) as f64;

    // Wait until the writer has flushed every entry, as its metric says.
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = scrape(&c, &gw.url("/metrics")).await;
        if sample(&text, "tokctl_ledger_entries_written_total", &[]) >= admitted {
            break text;
        }
        assert!(Instant::now() < deadline, "entries never written:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let chat_ep = ("endpoint", "/v1/chat/completions");
    let ok = [chat_ep, ("model", "gpt-4o-mini"), ("status", "200")];
    assert_eq!(
        sample(&text, "tokctl_requests_total", &ok),
        (PLAIN + STREAMED) as f64
    );
    let missing = [chat_ep, ("model", "other"), ("status", "404")];
    assert_eq!(
        sample(&text, "tokctl_requests_total", &missing),
        1.0,
        "{text}"
    );
    assert!(
        !text.contains("no-such-model"),
        "unbounded model label:\n{text}"
    );
    assert_eq!(
        sample(&text, "tokctl_requests_total", &[]),
        admitted,
        "401s are not requests"
    );
    assert_eq!(
        sample(
            &text,
            "tokctl_request_errors_total",
            &[("kind", "model_not_found")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "tokctl_auth_refusals_total",
            &[("reason", "invalid")]
        ),
        2.0
    );
    assert_eq!(sample(&text, "tokctl_in_flight_requests", &[]), 0.0);
    let mock = [("provider", "mock")];
    assert_eq!(
        sample(
            &text,
            "tokctl_request_duration_seconds_count",
            &[chat_ep, ("provider", "mock")]
        ),
        (PLAIN + STREAMED) as f64
    );
    assert_eq!(
        sample(
            &text,
            "tokctl_request_duration_seconds_bucket",
            &[chat_ep, ("provider", "mock"), ("le", "+Inf")]
        ),
        (PLAIN + STREAMED) as f64
    );
    assert_eq!(
        sample(&text, "tokctl_upstream_latency_seconds_count", &mock),
        (PLAIN + STREAMED) as f64
    );
    assert_eq!(
        sample(&text, "tokctl_time_to_first_token_seconds_count", &mock),
        STREAMED as f64,
        "ttft only for streams"
    );
    assert!(sample(&text, "tokctl_request_duration_seconds_sum", &[]) > 0.0);

    // Tokens agree with the ledger, by model and by (masked) user.
    let rows = rows(&db.dsn).await;
    assert_eq!(rows.len(), admitted as usize);
    let prompt: i64 = rows.iter().map(|r| r.input_tokens).sum();
    let completion: i64 = rows.iter().map(|r| r.output_tokens).sum();
    assert!(prompt > 0 && completion > 0);
    let m = ("model", "gpt-4o-mini");
    assert_eq!(
        sample(&text, "tokctl_tokens_total", &[m, ("type", "prompt")]),
        prompt as f64
    );
    assert_eq!(
        sample(&text, "tokctl_tokens_total", &[m, ("type", "completion")]),
        completion as f64
    );
    let user_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("tokctl_user_tokens_total{"))
        .collect();
    assert_eq!(user_lines.len(), 2, "{user_lines:?}");
    assert!(
        user_lines.iter().all(|l| l.contains("user=\"u")),
        "{user_lines:?}"
    );
    assert_eq!(
        sample(&text, "tokctl_user_tokens_total", &[("type", "prompt")]),
        prompt as f64
    );

    // The writer and pools, read at scrape time.
    assert_eq!(
        sample(&text, "tokctl_ledger_entries_dropped_total", &[]),
        0.0
    );
    assert!(sample(&text, "tokctl_ledger_flush_duration_seconds_count", &[]) >= 1.0);
    assert_eq!(
        sample(&text, "tokctl_ledger_buffer_size_entries", &[]),
        10_000.0
    );
    assert!(
        sample(
            &text,
            "tokctl_db_pool_open_connections",
            &[("database", "ledger+identity")]
        ) >= 1.0
    );
    assert!(sample(&text, "tokctl_uptime_seconds", &[]) > 0.0);
    assert_eq!(sample(&text, "tokctl_build_info", &[]), 1.0);

    // Scraping is not a request; the exposition is valid.
    let again = scrape(&c, &gw.url("/metrics")).await;
    assert_eq!(sample(&again, "tokctl_requests_total", &[]), admitted);
    promtool_check(&again);
}

#[tokio::test]
async fn metrics_on_their_own_listener() {
    let db = TestDb::sqlite();
    let port = free_port();
    let gw = Gateway::start(
        &db.dsn,
        &format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let c = client();
    let text = scrape(&c, &format!("http://127.0.0.1:{port}/metrics")).await;
    assert!(text.contains("tokctl_build_info"), "{text}");
    let main = c.get(gw.url("/metrics")).send().await.expect("get");
    assert_eq!(main.status(), 404, "not on the main port too");

    let db = TestDb::sqlite();
    let gw = Gateway::start(&db.dsn, "[metrics]\nenabled = false\n");
    let r = c.get(gw.url("/metrics")).send().await.expect("get");
    assert_eq!(r.status(), 404);
}

async fn health(c: &reqwest::Client, gw: &Gateway) -> (u16, Value) {
    let r = c.get(gw.url("/health")).send().await.expect("health");
    let code = r.status().as_u16();
    (code, r.json().await.expect("json"))
}

fn component<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["components"]
        .as_array()
        .expect("components")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no component {name} in {report}"))
}

fn health_cli(gw: &Gateway, extra: &[&str]) -> crate::support::bin::Output {
    let url = format!("http://{}", gw.addr);
    let mut args = vec!["health", "--url", url.as_str()];
    args.extend_from_slice(extra);
    Tokctl::new().run(&args)
}

#[tokio::test]
async fn healthy_gateway_and_exit_codes() {
    let db = TestDb::sqlite();
    let gw = Gateway::start(&db.dsn, "");
    let c = client();
    let (code, report) = health(&c, &gw).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["status"], "healthy", "{report}");
    assert!(
        report["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    for (name, kind) in [
        ("identity_db", "database"),
        ("ledger_db", "database"),
        ("ledger_writer", "writer"),
        ("mock", "provider"),
    ] {
        let comp = component(&report, name);
        assert_eq!(comp["type"], kind, "{comp}");
        assert_eq!(comp["status"], "healthy", "{comp}");
    }
    assert!(component(&report, "ledger_db")["latency_ms"].is_number());
    assert_eq!(report["pools"]["databases"][0]["name"], "ledger+identity");
    assert_eq!(report["pools"]["providers"][0]["name"], "mock");
    for path in ["/readyz", "/livez"] {
        let r = c.get(gw.url(path)).send().await.expect("probe");
        assert_eq!(r.status(), 200, "{path}");
    }

    let out = health_cli(&gw, &[]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("ledger_db") && out.stdout.contains("healthy"),
        "{}",
        out.stdout
    );
    let out = health_cli(&gw, &["--json"]);
    out.expect_code(0);
    let v: Value = serde_json::from_str(&out.stdout).expect("--json prints JSON");
    assert_eq!(v["status"], "healthy");

    // Unknown (3): nobody listening, bad flags, bad values, bad config.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let out = Tokctl::new().run(&["health", "--url", &closed]);
    out.expect_code(3);
    assert!(out.stderr.contains("cannot reach"), "{}", out.stderr);
    Tokctl::new().run(&["health", "--bogus"]).expect_code(3);
    Tokctl::new()
        .run(&["health", "--watch", "0"])
        .expect_code(3);
    Tokctl::new()
        .run(&["health", "--url", "x", "--direct"])
        .expect_code(3);
    Tokctl::new()
        .config("[server]\nnot_a_key = 1\n")
        .run(&["health", "--url", &closed])
        .expect_code(3);
    // Other subcommands keep the usual usage code; help is success.
    Tokctl::new().run(&["serve", "--bogus"]).expect_code(2);
    let help = Tokctl::new().run(&["health", "--help"]);
    help.expect_code(0);
    assert!(
        help.stdout.contains("3 unreachable or unknown"),
        "{}",
        help.stdout
    );
}

#[tokio::test]
async fn unreachable_provider_is_degraded_not_unhealthy() {
    let db = TestDb::sqlite();
    let extra = format!(
        "[providers.mock]\nkind = \"mock\"\n\
         [providers.down]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{}/v1\"\n",
        free_port()
    );
    let gw = Gateway::start(&db.dsn, &extra);
    let c = client();
    let (code, report) = health(&c, &gw).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["status"], "degraded", "{report}");
    let down = component(&report, "down");
    assert_eq!(down["status"], "degraded", "{down}");
    assert!(
        down["message"]
            .as_str()
            .is_some_and(|m| m.contains("unreachable")),
        "{down}"
    );
    assert_eq!(component(&report, "ledger_db")["status"], "healthy");
    health_cli(&gw, &[]).expect_code(1);

    // --direct checks the same config without the server.
    let config = format!(
        "[ledger]\npath = \"{dsn}\"\n[identity]\npath = \"{dsn}\"\n{extra}",
        dsn = db.dsn
    );
    let out = Tokctl::new()
        .config(&config)
        .env("TOKCTL_HEALTH_MAX_DB_LATENCY_MS", "2000")
        .run(&["health", "--direct", "--json"]);
    out.expect_code(1);
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(component(&v, "down")["status"], "degraded");
    assert_eq!(component(&v, "ledger_db")["status"], "healthy");
}

#[tokio::test]
async fn stopped_postgres_makes_the_ledger_unhealthy_without_the_spool() {
    // Our own cluster: stopping the shared one would break other tests.
    // With the spool on, the same outage is only degraded (gateway/chain.rs).
    let cluster = pg::private();
    let dsn = cluster.fresh_database().await;
    let gw = Gateway::start(&dsn, "[ledger.spool]\nenabled = false\n");
    let c = client();
    let (code, report) = health(&c, &gw).await;
    assert_eq!(
        (code, report["status"].as_str()),
        (200, Some("healthy")),
        "{report}"
    );
    health_cli(&gw, &[]).expect_code(0);

    cluster.stop();
    let (code, report) = health(&c, &gw).await;
    assert_eq!(code, 503, "{report}");
    assert_eq!(report["status"], "unhealthy", "{report}");
    assert_eq!(
        component(&report, "ledger_db")["status"],
        "unhealthy",
        "{report}"
    );
    // Cached keys keep authenticating: the identity side is only degraded.
    assert_eq!(
        component(&report, "identity_db")["status"],
        "degraded",
        "{report}"
    );
    let out = health_cli(&gw, &[]);
    out.expect_code(2);
    assert!(out.stdout.contains("unhealthy"), "{}", out.stdout);
    // Still ready: the writer takes entries (in memory) while it has room.
    let r = c.get(gw.url("/readyz")).send().await.expect("readyz");
    assert_eq!(r.status(), 200);
}
