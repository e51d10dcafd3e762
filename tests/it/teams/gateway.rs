//! Model access and teams at the gateway, the real binary on port 0 with
//! the mock provider: the intersection of a key's and a user's lists,
//! `/v1/models` in both shapes filtered, 403 `model_not_allowed` in the
//! OpenAI and the Anthropic shape (counted by scope, not written), a team
//! list taking effect within the auth cache TTL, entries carrying the
//! team, `ledger summary --by team` by name and `ledger export --team`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::tokctl_on;
use crate::gateway::harness::Gateway;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// POSTs `body` to `path` with `key`; status and JSON body.
async fn post(gw: &Gateway, key: &str, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(gw.url(path))
        .bearer_auth(key)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

fn messages(model: &str) -> Value {
    json!({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]})
}

/// The ids `GET /v1/models` lists for `key` (Anthropic's shape when `anthropic`).
async fn listed(gw: &Gateway, key: &str, anthropic: bool) -> (Vec<String>, Value) {
    let mut req = client().get(gw.url("/v1/models")).bearer_auth(key);
    if anthropic {
        req = req.header("anthropic-version", "2023-06-01");
    }
    let body: Value = req
        .send()
        .await
        .expect("models")
        .json()
        .await
        .expect("json");
    let ids = body["data"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|m| m["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    (ids, body)
}

fn refusals(text: &str, scope: &str) -> f64 {
    let series = format!(
        "tokctl_admission_refusals_total{{reason=\"model_not_allowed\",scope=\"{scope}\"}} "
    );
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

dbtest!(allow_lists_teams_and_the_ledger, multi_thread, |t| {
    let admin = tokctl_on(&t);
    admin.run(&["teams", "create", "ml"]).expect_code(0);
    admin.run(&["teams", "create", "ops"]).expect_code(0);
    admin
        .run(&[
            "users", "create", "bob", "--team", "ml", "--models", "*-mini",
        ])
        .expect_code(0);
    let out = admin.run(&["keys", "create", "--user", "bob", "--models", "gpt-*"]);
    out.expect_code(0);
    let key = out.stdout.trim().to_string();
    let gw = Gateway::start(&t.dsn, "[auth]\ncache_ttl_ms = 300\n");

    // Key gpt-*, user *-mini: only gpt-4o-mini, in both list shapes.
    let (ids, _) = listed(&gw, &key, false).await;
    assert_eq!(ids, ["gpt-4o-mini"]);
    let (ids, body) = listed(&gw, &key, true).await;
    assert_eq!(ids, ["gpt-4o-mini"]);
    assert_eq!(
        (&body["first_id"], &body["last_id"]),
        (&json!("gpt-4o-mini"), &json!("gpt-4o-mini"))
    );

    let (status, body) = post(&gw, &key, "/v1/chat/completions", chat("gpt-4o-mini")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(&gw, &key, "/v1/chat/completions", chat("gpt-4o")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "model_not_allowed");
    assert_eq!(body["error"]["type"], "permission_error");
    assert_eq!(body["error"]["param"], "model");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`gpt-4o`") && message.contains("user allow-list"),
        "{message}"
    );
    assert!(message.contains("allowed here: gpt-4o-mini"), "{message}");
    let (status, body) = post(&gw, &key, "/v1/messages", messages("claude-3-5-haiku")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "permission_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("key allow-list")),
        "{body}"
    );

    // A team list applies to its members within the cache TTL.
    admin
        .run(&["teams", "update", "ml", "--models", "claude-*"])
        .expect_code(0);
    let since = Instant::now();
    loop {
        let (status, body) = post(&gw, &key, "/v1/chat/completions", chat("gpt-4o-mini")).await;
        if status == 403 {
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("team")),
                "{body}"
            );
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "team list not applied: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ids, _) = listed(&gw, &key, false).await;
    assert!(ids.is_empty(), "{ids:?}");

    let metrics = client()
        .get(gw.url("/metrics"))
        .send()
        .await
        .expect("scrape");
    let text = metrics.text().await.expect("text");
    assert_eq!(refusals(&text, "user"), 1.0, "{text}");
    assert_eq!(refusals(&text, "key"), 1.0);
    assert!(refusals(&text, "team") >= 1.0);
    let (code, lines) = gw.stop();
    assert_eq!(code, 0, "{lines:?}");

    // Only admitted requests are written (the 200s before the team list),
    // each with bob's team.
    let ml = t.scalar("SELECT id FROM teams WHERE name = 'ml'").await;
    let rows = t.scalar("SELECT count(*) FROM usage_entries").await;
    assert!(rows >= 1, "{rows}");
    let with_team = t
        .scalar(&format!(
            "SELECT count(*) FROM usage_entries WHERE team_id = {ml}"
        ))
        .await;
    assert_eq!(with_team, rows);
    assert_eq!(
        t.scalar("SELECT count(*) FROM usage_entries WHERE status_code = 403")
            .await,
        0
    );

    let summary = admin.run(&["ledger", "summary", "--by", "team", "--format", "csv"]);
    summary.expect_code(0);
    assert!(
        summary
            .stdout
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with(&format!("ml,{rows},"))),
        "{}",
        summary.stdout
    );
    let export = admin.run(&["ledger", "export", "--team", "ml", "--format", "jsonl"]);
    export.expect_code(0);
    assert_eq!(export.stdout.lines().count() as i64, rows);
    let none = admin.run(&["ledger", "export", "--team", "ops", "--format", "jsonl"]);
    none.expect_code(0);
    assert_eq!(none.stdout.lines().count(), 0, "{}", none.stdout);
    let unknown = admin.run(&["ledger", "export", "--team", "nope"]);
    unknown.expect_code(1);
    assert!(
        unknown.stderr.contains("no team named `nope`"),
        "{}",
        unknown.stderr
    );
});
