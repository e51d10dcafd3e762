//! Budgets through real `tokctl serve` processes, set with the real CLI:
//! the refusal in each client API's shape and the official SDKs raising
//! once, two gateways sharing one Redis and one PostgreSQL under 300
//! concurrent requests, and a rolling window that resets.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::gateway::harness::Gateway;
use crate::support::{TestDb, Tokctl, redis};

/// A mock model whose every answer costs exactly 0.0024 (24 output tokens
/// at 100 per million; input is free), and whose estimate with
/// `max_tokens = 24` is the same.
const METERED: &str = "[providers.mock]\nkind = \"mock\"\nmock_prompt_tokens = 12\nmock_completion_tokens = 24\n\
     [[models]]\nname = \"metered\"\nprovider = \"mock\"\ninput_per_mtok = 0.0\noutput_per_mtok = 100.0\n";
const COST: i64 = 2_400_000;

/// A user and a key with `budget_args` through the CLI; returns the key.
fn budgeted_key(dsn: &str, user: &str, budget_args: &[&str]) -> String {
    let cfg = format!("[ledger]\npath = \"{dsn}\"\n[identity]\npath = \"{dsn}\"\n");
    let t = Tokctl::new().config(&cfg);
    t.run(&["users", "create", user]).expect_code(0);
    let mut args = vec!["keys", "create", "--user", user];
    args.extend_from_slice(budget_args);
    let out = t.run(&args);
    out.expect_code(0);
    out.stdout.trim().to_string()
}

fn chat(max_tokens: u64) -> Value {
    json!({"model": "metered", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "hi"}]})
}

async fn post(url: &str, key: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("request")
}

fn header<'r>(r: &'r reqwest::Response, name: &str) -> &'r str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header in {:?}", r.headers()))
}

/// A labelled counter's value on the gateway's `/metrics` page (0 if absent).
async fn counter(gw: &Gateway, series: &str) -> f64 {
    let page = reqwest::get(gw.url("/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("text");
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

const REFUSED_KEY: &str =
    "tokctl_admission_refusals_total{reason=\"budget_exceeded\",scope=\"key\"}";

#[tokio::test]
async fn a_spent_budget_answers_429_in_each_shape_and_the_sdks_raise_once() {
    let db = TestDb::sqlite();
    let gw = Gateway::start(&db.dsn, METERED);
    // Room for two answers: 0.0050 ≥ 2 × 0.0024, not three.
    let key = budgeted_key(
        &db.dsn,
        "spender",
        &["--budget", "0.005", "--budget-window", "monthly"],
    );
    let chat_url = gw.url("/v1/chat/completions");
    let r = post(&chat_url, &key, &chat(24)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "x-tokctl-budget-remaining"),
        "0.002600",
        "after this request's estimate"
    );
    assert!(header(&r, "x-tokctl-budget-reset").ends_with('Z'));
    let r = post(&chat_url, &key, &chat(24)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-tokctl-budget-remaining"), "0.000200");

    let r = post(&chat_url, &key, &chat(24)).await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "x-should-retry"), "false");
    assert_eq!(header(&r, "x-ratelimit-type"), "budget");
    let reset = header(&r, "x-tokctl-budget-reset").to_string();
    assert!(
        chrono::DateTime::parse_from_rfc3339(&reset).is_ok(),
        "{reset}"
    );
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["type"], "insufficient_quota", "{body}");
    assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("budget_exceeded:") && message.contains(&reset),
        "{message}"
    );

    let r = reqwest::Client::new()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", &key)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "metered", "max_tokens": 24, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("budget_exceeded:")
    );

    assert_eq!(counter(&gw, REFUSED_KEY).await, 2.0);
    let script = format!("{}/scripts/sdk_budget.py", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::process::Command::new("python3")
        .args([&script, &format!("http://{}", gw.addr), &key, "metered"])
        .output()
        .await
        .expect("python3");
    assert!(
        out.status.success(),
        "sdk_budget.py:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        counter(&gw, REFUSED_KEY).await,
        4.0,
        "one request per SDK: neither retried"
    );
    assert_eq!(gw.stop().0, 0);
    let cost = db
        .scalar("SELECT CAST(COALESCE(SUM(cost_nano), 0) AS BIGINT) FROM usage_entries")
        .await;
    assert_eq!(cost, 2 * COST, "two answers written, refusals never");
}

/// Sends `n` requests at once, alternating between `urls`; returns the
/// number of 200s and of 429s (anything else fails the test).
async fn at_once(urls: &[String], key: &str, n: usize, max_tokens: u64) -> (i64, i64) {
    let c = reqwest::Client::new();
    let statuses: Vec<u16> = futures_util::stream::iter(0..n)
        .map(|i| {
            let (c, url) = (c.clone(), urls[i % urls.len()].clone());
            async move {
                let r = c.post(url).bearer_auth(key).json(&chat(max_tokens)).send();
                r.await.map_or(0, |r| r.status().as_u16())
            }
        })
        .buffer_unordered(n)
        .collect()
        .await;
    let ok = statuses.iter().filter(|s| **s == 200).count() as i64;
    let refused = statuses.iter().filter(|s| **s == 429).count() as i64;
    assert_eq!(ok + refused, n as i64, "only 200 and 429: {statuses:?}");
    (ok, refused)
}

/// Redis's `spent` for the current month of key `id`.
fn redis_spent(addr: &str, scope_id: i64) -> i64 {
    let client = ::redis::Client::open(format!("redis://{addr}")).expect("URL");
    let mut conn = client.get_connection().expect("Redis");
    let keys: Vec<String> = ::redis::cmd("KEYS")
        .arg(format!("tokctl:budget:key:{scope_id}:*"))
        .query(&mut conn)
        .expect("KEYS");
    assert_eq!(keys.len(), 1, "{keys:?}");
    let v: Option<i64> = ::redis::cmd("HGET")
        .arg(&keys[0])
        .arg("spent")
        .query(&mut conn)
        .expect("HGET");
    v.unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_one_redis_hold_a_fifty_cent_budget_under_300_concurrent_requests() {
    let db = TestDb::postgres().await;
    let own = redis::start("redis-server").expect("a Redis of this test's own");
    // Budgets only: the rate limits stay off, Redis shares the spend.
    let extra = format!("{METERED}[rate_limit]\nredis_addr = \"{}\"\n", own.addr());
    let (a, b) = (
        Gateway::start(&db.dsn, &extra),
        Gateway::start(&db.dsn, &extra),
    );
    let urls = [a.url("/v1/chat/completions"), b.url("/v1/chat/completions")];
    let exact = budgeted_key(&db.dsn, "exact", &["--budget", "0.50"]);
    // Estimates equal costs: the budget holds exactly, 208 × 0.0024 = 0.4992.
    let (ok, refused) = at_once(&urls, &exact, 300, 24).await;
    assert_eq!((ok, refused), (208, 92));
    // Estimates below costs (max_tokens 10, 24 billed): the overshoot is
    // bounded by what the requests in flight cost beyond their estimates.
    let under = budgeted_key(&db.dsn, "under", &["--budget", "0.50"]);
    let (ok_under, _) = at_once(&urls, &under, 300, 10).await;
    assert!(ok_under > 0);
    assert_eq!(a.stop().0, 0);
    assert_eq!(b.stop().0, 0);
    let by_key = |user: &'static str| {
        let db = &db;
        async move {
            db.scalar(&format!(
                "SELECT CAST(COALESCE(SUM(e.cost_nano), 0) AS BIGINT) FROM usage_entries e \
                 JOIN users u ON u.id = e.user_id WHERE u.name = '{user}'"
            ))
            .await
        }
    };
    let (spent_exact, spent_under) = (by_key("exact").await, by_key("under").await);
    assert_eq!(spent_exact, 208 * COST, "within 0.50");
    let excess = COST - 1_000_000;
    assert!(
        spent_under <= 500_000_000 + ok_under * excess,
        "{spent_under} past 0.50 + {ok_under} × {excess}"
    );
    let key_id = |user: &'static str| {
        let db = &db;
        async move {
            db.scalar(&format!(
                "SELECT k.id FROM api_keys k JOIN users u ON u.id = k.user_id WHERE u.name = '{user}'"
            ))
            .await
        }
    };
    assert_eq!(
        redis_spent(&own.addr(), key_id("exact").await),
        spent_exact,
        "the ledger's sum is the store's"
    );
    assert_eq!(redis_spent(&own.addr(), key_id("under").await), spent_under);
}

#[tokio::test]
async fn a_rolling_window_of_two_seconds_resets() {
    let db = TestDb::sqlite();
    let gw = Gateway::start(&db.dsn, METERED);
    let key = budgeted_key(
        &db.dsn,
        "roller",
        &["--budget", "0.003", "--budget-window", "2s"],
    );
    let url = gw.url("/v1/chat/completions");
    let r = post(&url, &key, &chat(24)).await;
    assert_eq!(r.status(), 200);
    let r = post(&url, &key, &chat(24)).await;
    assert_eq!(r.status(), 429, "0.0048 > 0.003 in the same window");
    let reset = chrono::DateTime::parse_from_rfc3339(header(&r, "x-tokctl-budget-reset"))
        .expect("RFC 3339");
    let wait = reset.signed_duration_since(chrono::Utc::now());
    assert!(
        wait <= chrono::Duration::seconds(2),
        "resets within the window: {wait}"
    );
    tokio::time::sleep(wait.to_std().unwrap_or_default() + Duration::from_millis(50)).await;
    let r = post(&url, &key, &chat(24)).await;
    assert_eq!(r.status(), 200, "a new window, a new budget");
    assert_eq!(gw.stop().0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_flushed_while_entries_are_spooled_keeps_the_windows_whole_spend() {
    let db = TestDb::postgres().await;
    let own = redis::start("redis-server").expect("a Redis of this test's own");
    // The writers hold entries for a minute: what the gateways answer stays
    // spooled and queued, not yet in the ledger, for the whole test.
    let extra = format!(
        "{METERED}[rate_limit]\nredis_addr = \"{}\"\n[ledger.async]\nflush_ms = 60000\nbatch_size = 10000\n",
        own.addr()
    );
    let (a, b) = (
        Gateway::start(&db.dsn, &extra),
        Gateway::start(&db.dsn, &extra),
    );
    // Room for four answers: 4 × 0.0024 = 0.0096 ≤ 0.01.
    let key = budgeted_key(&db.dsn, "spooler", &["--budget", "0.01"]);
    let (url_a, url_b) = (a.url("/v1/chat/completions"), b.url("/v1/chat/completions"));
    for _ in 0..2 {
        assert_eq!(post(&url_a, &key, &chat(24)).await.status(), 200);
        assert_eq!(post(&url_b, &key, &chat(24)).await.status(), 200);
    }
    let written = db.scalar("SELECT COUNT(*) FROM usage_entries").await;
    assert_eq!(written, 0, "the answers are still spooled");
    redis::command(&own.addr(), "FLUSHALL").expect("FLUSHALL");
    // Each gateway notices the lost epoch within a second and puts its
    // unwritten spend back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = post(&url_b, &key, &chat(24)).await;
    assert_eq!(
        r.status(),
        429,
        "0.0096 spent + 0.0024 > 0.01: the whole window's spend is seen"
    );
    let r = post(&url_a, &key, &chat(24)).await;
    assert_eq!(r.status(), 429, "by both gateways");
    assert_eq!(a.stop().0, 0);
    assert_eq!(b.stop().0, 0);
    let cost = db
        .scalar("SELECT CAST(COALESCE(SUM(cost_nano), 0) AS BIGINT) FROM usage_entries")
        .await;
    assert_eq!(cost, 4 * COST);
}
