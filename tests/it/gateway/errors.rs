//! Gateway requests that fail: auth refusals, bad input (status and error
//! shape, one entry each), upstream failures and timeouts, oversize chunked
//! bodies, and clients that go away before the answer; each recorded (or
//! not) as it should be.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::cases::{chat, client, post};
use super::harness::{Gateway, Upstream, start_upstream};
use super::ledger_rows::rows;

/// Refusals by auth are answered and not written to the ledger.
pub async fn auth_failures_are_refused_and_not_recorded(dsn: String) {
    let gw = Gateway::start(&dsn, "");
    let c = client();
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .json(&chat("gpt-4o-mini", false))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["type"], "authentication_error");
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("tok_notarealkey0000000000000000000000")
        .json(&chat("gpt-4o-mini", false))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 401);
    let r = c
        .post(gw.url("/v1/messages"))
        .header("x-api-key", "wrong")
        .json(&json!({"model": "claude-sonnet-4"}))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.expect("json");
    assert_eq!(
        v["type"], "error",
        "Anthropic's error shape on /v1/messages"
    );
    assert_eq!(gw.stop().0, 0);
    assert!(rows(&dsn).await.is_empty());
}

/// Every bad input gets the right status and a message, one entry each,
/// and the server keeps serving.
pub async fn bad_inputs_get_clear_errors_and_one_entry_each(dsn: String) {
    let gw = Gateway::start_with_env(&dsn, "", &[("TOKCTL_SERVER_MAX_BODY_BYTES", "16384")]);
    let key = gw.key.clone().expect("key");
    let c = client();
    let url = gw.url("/v1/chat/completions");
    let long_model = "x".repeat(10_000);
    let cases: Vec<(&str, String, &str, u16)> = vec![
        (
            "malformed json",
            "{\"model\": ".into(),
            "application/json",
            400,
        ),
        (
            "missing model",
            "{\"messages\":[]}".into(),
            "application/json",
            400,
        ),
        (
            "non-string model",
            "{\"model\": 42}".into(),
            "application/json",
            400,
        ),
        (
            "NUL in model",
            "{\"model\": \"gpt\\u0000x\"}".into(),
            "application/json",
            400,
        ),
        (
            "10,000-char model",
            format!("{{\"model\":\"{long_model}\"}}"),
            "application/json",
            400,
        ),
        (
            "wrong content type",
            "{\"model\":\"gpt-4o-mini\"}".into(),
            "text/plain",
            415,
        ),
        (
            "unknown model",
            "{\"model\":\"gpt-99\"}".into(),
            "application/json",
            404,
        ),
        (
            "oversize body",
            format!(
                "{{\"model\":\"gpt-4o-mini\",\"pad\":\"{}\"}}",
                "y".repeat(20_000)
            ),
            "application/json",
            413,
        ),
    ];
    for (what, body, ctype, status) in &cases {
        let r = c
            .post(&url)
            .bearer_auth(&key)
            .header("content-type", *ctype)
            .body(body.clone())
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), *status, "{what}");
        for h in ["x-request-id", "x-tokctl-overhead-us"] {
            assert!(r.headers().contains_key(h), "{what}: no {h} header");
        }
        let v: Value = r.json().await.expect("error body is JSON");
        let msg = v["error"]["message"].as_str().unwrap_or("");
        assert!(
            msg.len() > 10,
            "{what}: a message that says what to fix: {v}"
        );
        // OpenAI's shape: type and code are strings, param is present.
        assert!(v["error"]["type"].is_string(), "{what}: {v}");
        assert!(v["error"]["code"].is_string(), "{what}: {v}");
        assert!(v["error"].get("param").is_some(), "{what}: {v}");
    }
    // The same mistake on /v1/messages is answered in Anthropic's shape.
    let r = c
        .post(gw.url("/v1/messages"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{\"model\": ")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.expect("error body is JSON");
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    // A known path with the wrong method: 405 in the OpenAI shape, with
    // `Allow` (routed before auth and admission, so not recorded).
    let r = c.get(&url).bearer_auth(&key).send().await.expect("request");
    assert_eq!(r.status(), 405);
    assert_eq!(
        r.headers().get("allow").map(|v| v.as_bytes()),
        Some(&b"POST"[..])
    );
    let v: Value = r.json().await.expect("error body is JSON");
    assert_eq!(v["error"]["code"], "method_not_allowed", "{v}");
    // The server still answers, and the last good request is recorded too.
    let r = post(&c, &gw, "/v1/chat/completions", &chat("gpt-4o-mini", false)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(gw.stop().0, 0);
    let rows = rows(&dsn).await;
    assert_eq!(
        rows.len(),
        cases.len() + 2,
        "one entry per admitted request: {rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.error_kind.as_deref() == Some("model_not_found"))
    );
    assert!(rows.iter().all(|r| !r.model.contains('\0')));
    assert!(rows.iter().all(|r| r.overhead_us.is_some_and(|o| o >= 0)));
}

/// A chunked body (no Content-Length) over `server.max_body_bytes` is a
/// 413 as well, found while reading, and recorded once.
pub async fn an_oversize_chunked_body_is_413(dsn: String) {
    let gw = Gateway::start_with_env(&dsn, "", &[("TOKCTL_SERVER_MAX_BODY_BYTES", "16384")]);
    let pad = "y".repeat(20_000);
    let pieces: Vec<Result<String, std::io::Error>> = vec![
        Ok("{\"model\":\"gpt-4o-mini\",\"pad\":\"".into()),
        Ok(pad),
        Ok("\"}".into()),
    ];
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(gw.key.as_deref().unwrap_or(""))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            pieces,
        )))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["code"], "body_too_large", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("server.max_body_bytes")),
        "{v}"
    );
    assert_eq!(gw.stop().0, 0);
    let rows = rows(&dsn).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status_code, 413);
}

/// Upstream down is a 502 naming the provider; retries cover a 503.
pub async fn upstream_failures_map_to_gateway_errors(dsn: String) {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let up = Upstream::default();
    up.fail_first.lock().expect("lock").push(503);
    let base = start_upstream(up.clone()).await;
    let extra = format!(
        "[providers.down]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{closed}/v1\"\nmax_retries = 1\nretry_base_ms = 1\n\
         [providers.flaky]\nkind = \"openai\"\nbase_url = \"{base}\"\nmax_retries = 2\nretry_base_ms = 1\n\
         [[models]]\nname = \"a\"\nprovider = \"down\"\n[[models]]\nname = \"b\"\nprovider = \"flaky\"\n"
    );
    let gw = Gateway::start(&dsn, &extra);
    let c = client();
    let r = post(&c, &gw, "/v1/chat/completions", &chat("a", false)).await;
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.expect("json");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("down"),
        "{v}"
    );
    let r = post(&c, &gw, "/v1/chat/completions", &chat("b", false)).await;
    assert_eq!(r.status(), 200, "a 503 is retried");
    assert_eq!(up.received.lock().expect("lock").len(), 2);
    assert_eq!(gw.stop().0, 0);
    let rows = rows(&dsn).await;
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter().any(
            |r| r.status_code == 502 && r.error_kind.as_deref() == Some("upstream_unreachable")
        )
    );
}

/// An upstream slower than the provider's `timeout_ms`: 504 naming the
/// timeout, recorded as 504 `upstream_timeout`.
pub async fn a_slow_upstream_is_a_recorded_504(dsn: String) {
    let up = Upstream {
        delay: Duration::from_millis(1500),
        ..Upstream::default()
    };
    let base = start_upstream(up).await;
    let extra = format!(
        "[providers.up]\nkind = \"openai\"\nbase_url = \"{base}\"\ntimeout_ms = 300\nmax_retries = 0\n\
         [[models]]\nname = \"m\"\nprovider = \"up\"\n"
    );
    let gw = Gateway::start(&dsn, &extra);
    let r = post(&client(), &gw, "/v1/chat/completions", &chat("m", false)).await;
    assert_eq!(r.status(), 504);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["type"], "api_error", "{v}");
    assert_eq!(gw.stop().0, 0);
    let rows = rows(&dsn).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].status_code, 504);
    assert_eq!(
        rows[0].error_kind.as_deref(),
        Some("upstream_timeout"),
        "{rows:?}"
    );
}

/// No answer within `server.request_timeout_ms`: the client gets a 504 in
/// the endpoint's error shape, and the entry says 504 too (with the tokens
/// the upstream still reported, since the request ran on detached).
pub async fn the_request_timeout_is_a_shaped_504_and_recorded(dsn: String) {
    let extra = "[providers.mock]\nkind = \"mock\"\nmock_latency_ms = 1000\n";
    // The harness writes `[server]` itself; the environment layers over it.
    let env = [("TOKCTL_SERVER_REQUEST_TIMEOUT_MS", "300")];
    let gw = Gateway::start_with_env(&dsn, extra, &env);
    let c = client();
    let t0 = std::time::Instant::now();
    let resp = post(&c, &gw, "/v1/chat/completions", &chat("gpt-4o-mini", false)).await;
    assert_eq!(resp.status(), 504);
    assert!(
        t0.elapsed() < Duration::from_millis(900),
        "answered at the deadline"
    );
    assert!(resp.headers().contains_key("x-request-id"));
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "request_timeout", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("server.request_timeout_ms")),
        "{body}"
    );
    let resp = post(
        &c,
        &gw,
        "/v1/messages",
        &json!({"model": "claude-3-5-haiku", "max_tokens": 10,
                "messages": [{"role": "user", "content": "hello"}]}),
    )
    .await;
    assert_eq!(resp.status(), 504);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "api_error", "{body}");
    assert_eq!(gw.stop().0, 0);
    let rows = rows(&dsn).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    for r in &rows {
        assert_eq!(r.status_code, 504, "{r:?}");
        assert_eq!(r.error_kind.as_deref(), Some("request_timeout"), "{r:?}");
        assert_eq!(r.token_source, "provider", "{r:?}");
        assert!(r.output_tokens > 0, "{r:?}");
    }
}

/// A client that goes away mid-stream still leaves an entry: 499, partial.
pub async fn client_disconnect_mid_stream_is_recorded(dsn: String) {
    let extra = "[providers.mock]\nkind = \"mock\"\nmock_completion_tokens = 40\nmock_chunk_interval_ms = 50\n";
    let gw = Gateway::start(&dsn, extra);
    let c = client();
    let r = post(&c, &gw, "/v1/chat/completions", &chat("gpt-4o-mini", true)).await;
    let mut s = r.bytes_stream();
    let first = s.next().await.expect("a first chunk").expect("bytes");
    assert!(!first.is_empty());
    drop(s);
    drop(c);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(gw.stop().0, 0);
    let rows = rows(&dsn).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status_code, 499);
    assert_eq!(rows[0].error_kind.as_deref(), Some("client_closed"));
    assert_eq!(rows[0].token_source, "partial");
    assert!(rows[0].output_tokens < 40, "{:?}", rows[0]);
}

/// A client that gives up before a whole (non-streamed) answer is ready
/// leaves an entry too: 499, with the upstream's usage, since the answer
/// was paid for.
pub async fn client_gone_before_a_whole_answer_is_recorded(dsn: String) {
    let extra = "[providers.mock]\nkind = \"mock\"\nmock_latency_ms = 600\n";
    let gw = Gateway::start(&dsn, extra);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .expect("client");
    let r = impatient
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(gw.key.as_deref().unwrap_or(""))
        .json(&chat("gpt-4o-mini", false))
        .send()
        .await;
    assert!(r.is_err(), "the client timed out: {r:?}");
    drop(impatient);
    tokio::time::sleep(Duration::from_millis(900)).await;
    let answered = post(
        &client(),
        &gw,
        "/v1/chat/completions",
        &chat("gpt-4o-mini", false),
    )
    .await;
    assert_eq!(answered.status(), 200);
    assert_eq!(gw.stop().0, 0);
    let mut rows = rows(&dsn).await;
    rows.sort_by_key(|r| r.status_code);
    let codes: Vec<i64> = rows.iter().map(|r| r.status_code).collect();
    assert_eq!(codes, [200, 499], "{rows:?}");
    assert_eq!(rows[1].error_kind.as_deref(), Some("client_closed"));
    assert!(
        rows[1].output_tokens > 0,
        "the paid-for usage is kept: {:?}",
        rows[1]
    );
}
