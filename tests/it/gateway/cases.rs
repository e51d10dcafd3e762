//! Gateway requests that are answered and recorded: the mock and an
//! OpenAI-compatible upstream (usage normalised or estimated), a proxy from
//! the environment, anonymous entries without auth, the official SDKs; and
//! the request helpers the other gateway test modules share.

use std::time::Duration;

use serde_json::{Value, json};

use super::harness::{Gateway, Upstream, start_upstream};
use super::ledger_rows::rows;

/// The HTTP client of the gateway tests (a 20 s timeout per request).
pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// A one-message chat completion request for `model`.
pub(super) fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hello"}]})
}

pub(super) async fn post(
    c: &reqwest::Client,
    gw: &Gateway,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    c.post(gw.url(path))
        .bearer_auth(gw.key.as_deref().unwrap_or(""))
        .json(body)
        .send()
        .await
        .expect("request")
}

/// Plain and streamed completions through `mock`, recorded with provider usage.
pub async fn mock_plain_and_stream_are_recorded(dsn: String) {
    let gw = Gateway::start(&dsn, "");
    let key = gw
        .key
        .clone()
        .expect("a bootstrap key was printed on first start");
    assert!(key.starts_with("tok_"), "{key}");
    let c = client();
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .header("x-request-id", "client-chosen-id")
        .json(&chat("gpt-4o-mini", false))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let rid = r.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert_ne!(
        rid, "client-chosen-id",
        "the gateway's own id replaces the client's"
    );
    assert!(uuid::Uuid::parse_str(&rid).is_ok(), "{rid}");
    assert!(r.headers().contains_key("x-tokctl-overhead-us"));
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["usage"]["prompt_tokens"], 12);

    let r = post(&c, &gw, "/v1/chat/completions", &chat("gpt-4o-mini", true)).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.expect("body");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(
        !text.contains("\"usage\""),
        "usage chunk must not reach a client that did not ask: {text}"
    );

    let r = c
        .post(gw.url("/v1/messages"))
        .header("x-api-key", &key)
        .json(&json!({"model": "claude-sonnet-4", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["type"], "message");

    let (code, _) = gw.stop();
    assert_eq!(code, 0);
    let rows = rows(&dsn).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    let first = rows
        .iter()
        .find(|r| r.request_id == rid)
        .expect("row for the first request");
    assert_eq!(first.client_request_id.as_deref(), Some("client-chosen-id"));
    assert_eq!(first.user_name.as_deref(), Some("admin"));
    assert_eq!((first.input_tokens, first.output_tokens), (12, 24));
    assert_eq!(first.token_source, "provider");
    // 12 × 0.15 + 24 × 0.6 per Mtok = 1800 + 14400 nano
    assert_eq!(first.cost_nano, 16_200);
    let streamed = rows.iter().find(|r| r.streamed).expect("a streamed row");
    assert_eq!(
        (
            streamed.input_tokens,
            streamed.output_tokens,
            streamed.token_source.as_str()
        ),
        (12, 24, "provider")
    );
}

/// An OpenAI-compatible upstream over a real socket: usage normalised,
/// the usage chunk asked for and hidden, upstream ids passed back.
pub async fn openai_upstream_usage_is_normalised(dsn: String) {
    let up = Upstream {
        stream_usage: true,
        ..Default::default()
    };
    let base = start_upstream(up.clone()).await;
    let extra = format!(
        "[providers.up]\nkind = \"openai\"\nbase_url = \"{base}\"\nretry_base_ms = 1\n\
         [[models]]\nname = \"public\"\nprovider = \"up\"\nupstream_model = \"private-1\"\ninput_per_mtok = 1.0\n\
         cached_input_per_mtok = 0.5\noutput_per_mtok = 2.0\n"
    );
    let gw = Gateway::start(&dsn, &extra);
    let c = client();
    let r = post(&c, &gw, "/v1/chat/completions", &chat("public", false)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-upstream-request-id"], "upstream-req-1");
    let r = post(&c, &gw, "/v1/chat/completions", &chat("public", true)).await;
    let text = r.text().await.expect("body");
    assert!(
        text.contains("Hello") && !text.contains("\"usage\""),
        "{text}"
    );
    {
        let got = up.received.lock().expect("lock");
        let sent: Value = serde_json::from_slice(&got[1].1).expect("json");
        assert_eq!(
            sent["model"], "private-1",
            "the upstream model name is sent"
        );
        assert_eq!(sent["stream_options"]["include_usage"], true);
    }
    // A client that asks for usage gets it.
    let mut body = chat("public", true);
    body["stream_options"] = json!({"include_usage": true});
    let text = post(&c, &gw, "/v1/chat/completions", &body)
        .await
        .text()
        .await
        .expect("body");
    assert!(text.contains("\"usage\""), "{text}");
    assert_eq!(gw.stop().0, 0);
    let rows = rows(&dsn).await;
    assert_eq!(rows.len(), 3);
    let plain = rows.iter().find(|r| !r.streamed).expect("plain row");
    assert_eq!(
        (
            plain.input_tokens,
            plain.cached_input_tokens,
            plain.output_tokens,
            plain.reasoning_tokens
        ),
        (60, 40, 50, 20)
    );
    // 60 × 1.0 + 40 × 0.5 + 50 × 2.0 per Mtok, in nano-units
    assert_eq!(plain.cost_nano, 60_000 + 20_000 + 100_000);
    assert_eq!(plain.upstream_request_id.as_deref(), Some("upstream-req-1"));
    for s in rows.iter().filter(|r| r.streamed) {
        assert_eq!(
            (s.input_tokens, s.cached_input_tokens, s.output_tokens),
            (20, 10, 3)
        );
        assert_eq!(s.token_source, "provider");
    }
}

/// An upstream the environment routes through a proxy is reached through
/// it: the "proxy" here is the test upstream itself, which answers the
/// absolute-form request; the upstream's own host does not resolve, so
/// only the proxy can have answered.
pub async fn a_proxy_from_the_environment_is_used(dsn: String) {
    let up = Upstream::default();
    let proxy = start_upstream(up.clone()).await;
    let proxy = proxy.trim_end_matches("/v1");
    let extra = "[providers.up]\nkind = \"openai\"\nbase_url = \"http://upstream.invalid/v1\"\n\
         max_retries = 0\n[[models]]\nname = \"public\"\nprovider = \"up\"\n";
    let gw = Gateway::start_with_env(&dsn, extra, &[("HTTP_PROXY", proxy), ("NO_PROXY", "")]);
    let r = post(
        &client(),
        &gw,
        "/v1/chat/completions",
        &chat("public", false),
    )
    .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    {
        let got = up.received.lock().expect("lock");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0["host"], "upstream.invalid");
    }
    assert_eq!(gw.stop().0, 0);
}

/// No usage in the stream: the entry counts what was streamed, marked estimated.
pub async fn stream_without_usage_is_estimated(dsn: String) {
    let base = start_upstream(Upstream::default()).await;
    let extra = format!(
        "[providers.up]\nkind = \"openai\"\nbase_url = \"{base}\"\n[[models]]\nname = \"m\"\nprovider = \"up\"\n"
    );
    let gw = Gateway::start(&dsn, &extra);
    let body = chat("m", true);
    let text = post(&client(), &gw, "/v1/chat/completions", &body)
        .await
        .text()
        .await
        .expect("body");
    assert!(text.contains("friend"));
    assert_eq!(gw.stop().0, 0);
    let rows = rows(&dsn).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].token_source, "estimated");
    // "Hello there friend" = 18 characters, about 5 tokens
    assert_eq!(rows[0].output_tokens, 5);
    // The input: the request body's bytes / 4, rounded up (reqwest sends
    // the JSON as serde_json writes it).
    let sent = serde_json::to_vec(&body).expect("json").len();
    assert_eq!(
        rows[0].input_tokens,
        i64::try_from(sent.div_ceil(4)).expect("small")
    );
}

/// `auth.enabled = false`: no key needed, and the entry has no user.
pub async fn without_auth_entries_are_anonymous(dsn: String) {
    let gw = Gateway::start(&dsn, "[auth]\nenabled = false\n");
    assert!(gw.key.is_none(), "no bootstrap key without auth");
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&chat("gpt-4o-mini", false))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    assert_eq!(gw.stop().0, 0);
    let rows = rows(&dsn).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].user_name, None, "{rows:?}");
}

/// The official OpenAI and Anthropic SDKs (Python) against the gateway:
/// plain, streamed, embeddings, model list, errors, Anthropic messages.
pub async fn official_sdks_work(dsn: String) {
    let gw = Gateway::start(&dsn, "");
    run_sdk_script("sdk_smoke.py", &gw).await;
    assert_eq!(gw.stop().0, 0);
    assert_eq!(
        rows(&dsn).await.len(),
        6,
        "one entry per POST the SDKs made (GET /v1/models is not ledgered)"
    );
}

/// Runs `scripts/NAME` (Python, the official OpenAI and Anthropic SDKs)
/// against `gw` with its bootstrap key; fails the test with the script's
/// output unless it succeeds.
pub async fn run_sdk_script(name: &str, gw: &Gateway) {
    let has_sdks = std::process::Command::new("python3")
        .args(["-c", "import openai, anthropic"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_sdks,
        "the OpenAI and Anthropic Python SDKs are missing: `pip install openai anthropic` (scripts/install-test-deps.sh does it)"
    );
    let key = gw.key.clone().expect("bootstrap key");
    let script = format!("{}/scripts/{name}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::process::Command::new("python3")
        .args([&script, &format!("http://{}", gw.addr), &key])
        .output()
        .await
        .expect("run python3");
    assert!(
        out.status.success(),
        "{name} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
