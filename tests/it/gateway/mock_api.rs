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

/// The mock calls a tool the user names, in both APIs, plain and streamed:
/// tool use runs offline (and in benchmarks) end to end.
pub async fn the_mock_calls_a_tool_the_user_names(dsn: String) {
    let gw = Gateway::start(&dsn, "");
    let c = client();
    let schema =
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
    let ask = json!([{"role": "user", "content": "use get_weather for Paris"}]);
    let chat = |stream: bool| {
        json!({"model": "gpt-4o-mini", "stream": stream, "messages": ask,
               "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": schema}}]})
    };
    let messages = |stream: bool| {
        json!({"model": "claude-sonnet-4", "max_tokens": 50, "stream": stream, "messages": ask,
               "tools": [{"name": "get_weather", "input_schema": schema}]})
    };

    let v: Value = post(&c, &gw, "/v1/chat/completions", &chat(false))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls", "{v}");
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], r#"{"city":"mock"}"#);

    let v: Value = post(&c, &gw, "/v1/messages", &messages(false))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v["stop_reason"], "tool_use", "{v}");
    assert_eq!(v["content"][0]["input"], json!({"city": "mock"}));

    let text = post(&c, &gw, "/v1/chat/completions", &chat(true))
        .await
        .text()
        .await
        .expect("body");
    assert!(text.contains(r#""finish_reason":"tool_calls""#), "{text}");
    assert!(
        text.contains(r#""arguments":"{\"city\":\"mock\"}""#),
        "{text}"
    );
    let text = post(&c, &gw, "/v1/messages", &messages(true))
        .await
        .text()
        .await
        .expect("body");
    assert!(text.contains(r#""type":"input_json_delta""#), "{text}");
    assert!(text.contains(r#""stop_reason":"tool_use""#), "{text}");

    // Without a tool named, the same request is answered with text.
    let mut plain = chat(false);
    plain["messages"] = json!([{"role": "user", "content": "hello"}]);
    let v: Value = post(&c, &gw, "/v1/chat/completions", &plain)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v["choices"][0]["finish_reason"], "stop", "{v}");
    assert_eq!(gw.stop().0, 0);
    assert_eq!(rows(&dsn).await.len(), 5, "one entry per request");
}

#[tokio::test]
async fn the_mock_calls_a_tool_the_user_names_on_sqlite() {
    let db = crate::support::TestDb::sqlite();
    the_mock_calls_a_tool_the_user_names(db.dsn.clone()).await;
}
