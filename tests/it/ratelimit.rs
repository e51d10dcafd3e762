//! Rate limits through the real gateway, with the memory store and with a
//! real Redis server: admitted counts against the configured rate, headers,
//! 429s, two gateways sharing one Redis, Redis failing mid-test, and the
//! tokens-per-minute reservation.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::gateway::harness::Gateway;
use crate::support::{TestDb, Tokctl, redis};

mod redis_outage;

/// Creates a user and a key with per-key limits through the real CLI.
fn key_with_limits(gw: &Gateway, dsn: &str, args: &[&str]) -> String {
    let cfg = format!("[ledger]\npath = \"{dsn}\"\n[identity]\npath = \"{dsn}\"\n");
    let t = Tokctl::new().config(&cfg);
    t.run(&["users", "create", "limited"]).expect_code(0);
    let mut full = vec!["keys", "create", "--user", "limited"];
    full.extend_from_slice(args);
    let out = t.run(&full);
    out.expect_code(0);
    let _ = gw;
    out.stdout.trim().to_string()
}

/// Sends requests back to back for `secs`; returns (admitted, refused, one 429).
async fn hammer(
    urls: &[String],
    key: &str,
    secs: f64,
) -> (usize, usize, Option<reqwest::Response>) {
    let c = reqwest::Client::new();
    let body = json!({"model": "gpt-4o-mini", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let (mut ok, mut refused, mut sample) = (0, 0, None);
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed().as_secs_f64() < secs {
        let url = &urls[i % urls.len()];
        i += 1;
        let r = c
            .post(url)
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("request");
        match r.status().as_u16() {
            200 => ok += 1,
            429 => {
                refused += 1;
                if sample.is_none() {
                    sample = Some(r);
                }
            }
            other => panic!("unexpected status {other}"),
        }
    }
    (ok, refused, sample)
}

async fn limited_key_admits_about_its_rate(store_extra: String) {
    let db = TestDb::sqlite();
    let gw = Gateway::start(
        &db.dsn,
        &format!("[rate_limit]\nenabled = true\nuser_rps = 1000.0\n{store_extra}"),
    );
    let key = key_with_limits(&gw, &db.dsn, &["--rps", "5", "--burst", "5"]);
    let secs = 2.0;
    let (ok, refused, sample) = hammer(&[gw.url("/v1/chat/completions")], &key, secs).await;
    // burst + rate × time, give or take one refill.
    let expected = 5.0 + 5.0 * secs;
    assert!(
        (ok as f64 - expected).abs() <= 2.0,
        "admitted {ok}, expected about {expected}"
    );
    assert!(refused > 0);
    let r = sample.expect("a 429");
    let h = r.headers();
    assert_eq!(h["x-ratelimit-type"], "apikey");
    assert_eq!(h["x-ratelimit-limit"], "5");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert!(h.contains_key("x-ratelimit-reset"));
    let retry: u64 = h["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry >= 1);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["error"]["type"], "rate_limit_error");
    let metrics = reqwest::get(gw.url("/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let line = format!("tokctl_rate_limit_refusals_total{{type=\"apikey\"}} {refused}");
    assert!(metrics.contains(&line), "expected `{line}` in /metrics");
    assert_eq!(gw.stop().0, 0);
    // Refusals are not written to the ledger.
    let rows: i64 = db.scalar("SELECT count(*) FROM usage_entries").await;
    assert_eq!(rows as usize, ok);
}

#[tokio::test]
async fn memory_store_admits_about_the_rate() {
    limited_key_admits_about_its_rate(String::new()).await;
}

#[tokio::test]
async fn redis_store_admits_about_the_rate() {
    let r = redis::start("redis-server").expect("redis");
    limited_key_admits_about_its_rate(format!("redis_addr = \"{}\"\n", r.addr())).await;
}

#[tokio::test]
async fn two_gateways_sharing_redis_enforce_one_limit() {
    let r = redis::start("redis-server").expect("redis");
    let db = TestDb::postgres().await;
    let extra = format!(
        "[rate_limit]\nenabled = true\nuser_rps = 1000.0\nredis_addr = \"{}\"\n",
        r.addr()
    );
    let a = Gateway::start(&db.dsn, &extra);
    let b = Gateway::start(&db.dsn, &extra);
    let key = key_with_limits(&a, &db.dsn, &["--rps", "10", "--burst", "10"]);
    let secs = 2.0;
    let urls = [a.url("/v1/chat/completions"), b.url("/v1/chat/completions")];
    let (ok, _, _) = hammer(&urls, &key, secs).await;
    let expected = 10.0 + 10.0 * secs;
    assert!(
        (ok as f64) <= expected * 1.05 + 1.0 && (ok as f64) >= expected * 0.85,
        "two gateways admitted {ok} together; one limit allows about {expected} (twice would be {})",
        expected * 2.0
    );
    assert_eq!(a.stop().0, 0);
    assert_eq!(b.stop().0, 0);
}

#[tokio::test]
async fn redis_down_fails_open_and_is_counted() {
    let r = redis::start("redis-server").expect("redis");
    let db = TestDb::sqlite();
    let gw = Gateway::start(
        &db.dsn,
        &format!(
            "[rate_limit]\nenabled = true\nredis_addr = \"{}\"\n",
            r.addr()
        ),
    );
    let key = gw.key.clone().expect("key");
    let c = reqwest::Client::new();
    let health: serde_json::Value = c
        .get(gw.url("/health"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    let redis_status = |h: &serde_json::Value| {
        h["components"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == "rate_limit_store"))
            .map(|c| c["status"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(
        redis_status(&health).as_deref(),
        Some("healthy"),
        "{health}"
    );
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    let send = || {
        c.post(gw.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    assert_eq!(send().await.expect("req").status(), 200);
    let _ = redis::command(&r.addr(), "SHUTDOWN NOSAVE");
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..3 {
        let resp = send().await.expect("req");
        assert_eq!(
            resp.status(),
            200,
            "fail open: answered while Redis is down"
        );
    }
    let (_, log) = gw.stop();
    assert!(
        log.iter().any(|l| l.contains("rate-limit store failed")),
        "{log:?}"
    );
}

#[tokio::test]
async fn tokens_per_minute_reserves_then_settles() {
    let db = TestDb::sqlite();
    let gw = Gateway::start(&db.dsn, "[rate_limit]\nenabled = true\n");
    // The mock reports 12 + 24 = 36 tokens a request; the estimate of each
    // request is bytes / 4 + max_tokens (10), about 35.
    let key = key_with_limits(&gw, &db.dsn, &["--tpm", "120"]);
    let c = reqwest::Client::new();
    let body = json!({"model": "gpt-4o-mini", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = c
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .expect("req");
        statuses.push((
            r.status().as_u16(),
            r.headers().get("x-ratelimit-type").cloned(),
        ));
    }
    let ok = statuses.iter().filter(|(s, _)| *s == 200).count();
    // 120 tokens a minute at 36 a request: three fit, the fourth does not.
    assert_eq!(ok, 3, "{statuses:?}");
    let refused = statuses.iter().find(|(s, _)| *s == 429).expect("a refusal");
    assert_eq!(refused.1.as_ref().expect("type header"), "tokens");
    assert_eq!(gw.stop().0, 0);
}

/// 1,000 requests, one after another, on one keep-alive connection of
/// Python's `http.client` (reconnecting only when told to), against a key
/// limited to 20 requests a second: most are refused before their body is
/// read, and none may end in a connection error.
const KEEPALIVE_CLIENT: &str = r#"
import http.client, json, sys
host, port, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
body = json.dumps({"model": "gpt-4o-mini", "max_tokens": 10,
                   "messages": [{"role": "user", "content": "x" * 2000}]})
conn = http.client.HTTPConnection(host, port, timeout=10)
codes, errors = {}, []
for _ in range(1000):
    try:
        conn.request("POST", "/v1/chat/completions", body=body,
                     headers={"Authorization": "Bearer " + key,
                              "Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        codes[r.status] = codes.get(r.status, 0) + 1
    except (OSError, http.client.HTTPException) as e:
        errors.append(type(e).__name__)
        conn.close()
print(json.dumps({"codes": codes, "errors": errors}))
"#;

dbtest!(refusals_keep_keepalive_clients_whole, |db| {
    let gw = Gateway::start(&db.dsn, "[rate_limit]\nenabled = true\nuser_rps = 1000.0\n");
    let key = key_with_limits(&gw, &db.dsn, &["--rps", "20", "--burst", "20"]);
    let (host, port) = gw.addr.rsplit_once(':').expect("host:port");
    let out = tokio::process::Command::new("python3")
        .args(["-c", KEEPALIVE_CLIENT, host, port, &key])
        .output()
        .await
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "client output: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(v["errors"], json!([]), "no connection errors: {v}");
    let refused = v["codes"]["429"].as_i64().unwrap_or(0);
    assert!(refused > 500, "most requests refused: {v}");
    assert!(v["codes"]["200"].as_i64().unwrap_or(0) >= 20, "{v}");
});
