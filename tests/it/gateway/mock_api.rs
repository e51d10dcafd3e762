//! The `mock` provider through the real binary answers like the APIs it
//! imitates: what they refuse is a 400 in their error shape (and one ledger
//! entry, as every admitted request), embeddings get one vector per input
//! and usage that grows with the input.

use serde_json::{Value, json};

use super::cases::{client, post};
use super::harness::Gateway;
use super::ledger_rows::rows;

pub async fn the_mock_refuses_what_the_apis_refuse(dsn: String) {
    let gw = Gateway::start(&dsn, "");
    let c = client();
    let cases = [
        (
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini"}),
            "messages",
        ),
        (
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "wizard", "content": "hi"}]}),
            "messages",
        ),
        (
            "/v1/embeddings",
            json!({"model": "gpt-4o-mini", "input": []}),
            "input",
        ),
    ];
    for (path, body, param) in &cases {
        let r = post(&c, &gw, path, body).await;
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
        assert_eq!(v["error"]["param"], *param, "{v}");
    }
    let r = post(
        &c,
        &gw,
        "/v1/messages",
        &json!({"model": "claude-3-5-haiku", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.expect("json");
    assert_eq!(
        (&v["type"], &v["error"]["type"]),
        (&json!("error"), &json!("invalid_request_error"))
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("max_tokens")),
        "{v}"
    );

    let embed = |input: Value| json!({"model": "gpt-4o-mini", "input": input});
    let r = post(
        &c,
        &gw,
        "/v1/embeddings",
        &embed(json!(["a short one", "and another"])),
    )
    .await;
    assert_eq!(r.status(), 200);
    let two: Value = r.json().await.expect("json");
    assert_eq!(two["data"].as_array().map(Vec::len), Some(2), "{two}");
    assert_eq!(two["data"][1]["index"], 1);
    let r = post(&c, &gw, "/v1/embeddings", &embed(json!("x".repeat(4000)))).await;
    let long: Value = r.json().await.expect("json");
    let tokens = |v: &Value| v["usage"]["prompt_tokens"].as_i64().unwrap_or(0);
    assert!(
        tokens(&long) > 10 * tokens(&two),
        "usage grows with the input: {long} {two}"
    );
    let (code, _) = gw.stop();
    assert_eq!(code, 0);
    let stored = rows(&dsn).await;
    assert_eq!(
        stored.len(),
        6,
        "one entry per admitted request: {stored:?}"
    );
    assert_eq!(stored.iter().filter(|r| r.status_code == 400).count(), 4);
}

crate::dbtest!(the_mock_refuses_what_the_apis_refuse, |db| {
    the_mock_refuses_what_the_apis_refuse(db.dsn.clone()).await;
});
