//! The Responses API end to end: the official OpenAI SDK's
//! `client.responses` through the real binary to a Chat Completions
//! upstream, an Anthropic upstream (both translated) and the mock (which
//! speaks the API itself: passed through), with the ledger rows each
//! leaves; byte-for-byte pass-through to a Responses upstream, usage read
//! from its answer and its `response.completed` event; and the refusals of
//! the stateless routes.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};
use sqlx::Row;

use super::cases::{client, post as post_json, run_sdk_script};
use super::harness::{self, Gateway, Upstream, start_upstream};
use crate::support::TestDb;

/// One ledger row: endpoint, model, upstream_api, status, usage (input,
/// cached, cache writes, output), streamed.
type Seen = (String, String, Option<String>, i64, [i64; 4], bool);

async fn ledger(db: &TestDb) -> Vec<Seen> {
    const SQL: &str = "SELECT endpoint, model, upstream_api, CAST(status_code AS BIGINT), \
        input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, streamed \
        FROM usage_entries ORDER BY request_id";
    macro_rules! seen {
        ($rows:expr) => {
            $rows
                .iter()
                .map(|r| {
                    let usage = [r.get(4), r.get(5), r.get(6), r.get(7)];
                    (r.get(0), r.get(1), r.get(2), r.get(3), usage, r.get(8))
                })
                .collect()
        };
    }
    match db.connect().await {
        tokctl::db::Db::Sqlite(p) => seen!(sqlx::query(SQL).fetch_all(&p).await.expect("rows")),
        tokctl::db::Db::Postgres(p) => seen!(sqlx::query(SQL).fetch_all(&p).await.expect("rows")),
    }
}

/// Requests the script makes per model: plain, streamed, a function call
/// (plain and streamed), the second turn.
const PER_MODEL: usize = 5;

pub async fn the_sdk_reaches_every_provider(db: &TestDb) {
    let up = Upstream {
        validate: true,
        stream_usage: true,
        ..Default::default()
    };
    let base = start_upstream(up.clone()).await;
    let extra = format!(
        "[providers.oai]\nkind = \"openai\"\nbase_url = \"{base}\"\nmax_retries = 0\n\
         [providers.ant]\nkind = \"anthropic\"\nbase_url = \"{base}\"\nmax_retries = 0\n\
         [providers.mock]\nkind = \"mock\"\n\
         [[models]]\nname = \"chat-up\"\nprovider = \"oai\"\nupstream_model = \"gpt-up\"\nfree = true\n\
         [[models]]\nname = \"messages-up\"\nprovider = \"ant\"\nupstream_model = \"claude-up\"\nfree = true\n\
         [[models]]\nname = \"mock-resp\"\nprovider = \"mock\"\nfree = true\n"
    );
    let gw = Gateway::start(&db.dsn, &extra);
    run_sdk_script("sdk_responses.py", &gw).await;
    assert_eq!(gw.stop().0, 0);

    // What reached the upstream was valid for its API (it refuses anything
    // else): Chat Completions and Messages requests, none to /responses.
    let received = up.received.lock().expect("lock").clone();
    assert_eq!(received.len(), 2 * PER_MODEL);

    let rows = ledger(db).await;
    assert_eq!(rows.len(), 3 * PER_MODEL, "{rows:#?}");
    for (chunk, (model, api)) in rows.chunks(PER_MODEL).zip([
        ("chat-up", "chat"),
        ("messages-up", "messages"),
        ("mock-resp", "responses"),
    ]) {
        for r in chunk {
            assert_eq!(
                (r.0.as_str(), r.1.as_str(), r.2.as_deref(), r.3),
                ("/v1/responses", model, Some(api), 200),
                "{r:?}"
            );
            assert!(r.4[3] > 0, "output tokens recorded: {r:?}");
        }
        let streamed: Vec<bool> = chunk.iter().map(|r| r.5).collect();
        assert_eq!(streamed, [false, true, false, true, false], "{model}");
    }
    // The upstreams' own usage, normalised: OpenAI's cached input apart,
    // Anthropic's cache reads and writes kept, the mock's counts.
    assert_eq!(rows[0].4, [60, 40, 0, 50], "chat upstream, plain");
    assert_eq!(rows[1].4, [20, 10, 0, 3], "chat upstream, its usage chunk");
    assert_eq!(rows[2].4, [80, 0, 0, 9], "chat upstream, the tool call");
    let anthropic = [
        harness::ANTHROPIC_INPUT,
        harness::ANTHROPIC_CACHE_READ,
        harness::ANTHROPIC_CACHE_WRITE,
        harness::ANTHROPIC_OUTPUT,
    ];
    assert_eq!(rows[PER_MODEL].4, anthropic, "anthropic upstream, plain");
    assert_eq!(rows[PER_MODEL + 1].4[3], harness::ANTHROPIC_STREAM_OUTPUT);
    for r in &rows[2 * PER_MODEL..] {
        assert_eq!(r.4, [12, 0, 0, 24], "the mock's usage: {r:?}");
    }
}

crate::dbtest!(the_sdk_reaches_every_provider, |db| {
    the_sdk_reaches_every_provider(&db).await;
});

/// A Responses answer and stream, as an upstream that serves the API sends them.
const PLAIN: &str = r#"{"id":"resp_up_1","object":"response","created_at":1741476542,"status":"completed","model":"gpt-4.1-2025-04-14","output":[{"type":"message","id":"msg_up_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"In a peaceful grove...","annotations":[]}]}],"usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":6},"output_tokens":87,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":123},"store":true}"#;
const STREAM: &str = "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_up_2\",\"object\":\"response\",\"status\":\"in_progress\",\"output\":[],\"usage\":null}}\n\n\
event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"item_id\":\"msg_up_2\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hi\"}\n\n\
event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_up_2\",\"object\":\"response\",\"status\":\"completed\",\"output\":[],\"usage\":{\"input_tokens\":11,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":4,\"output_tokens_details\":{\"reasoning_tokens\":2},\"total_tokens\":15}}}\n\n";

type Received = Arc<Mutex<Vec<(String, Bytes)>>>;

async fn responses_upstream(State(got): State<Received>, body: Bytes) -> axum::response::Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    got.lock()
        .expect("lock")
        .push(("/v1/responses".into(), body));
    if v["stream"] == true {
        ([("content-type", "text/event-stream")], STREAM).into_response()
    } else {
        ([("content-type", "application/json")], PLAIN).into_response()
    }
}

pub async fn a_responses_upstream_is_passed_through_byte_for_byte(db: &TestDb) {
    let dsn = &db.dsn;
    let got: Received = Arc::default();
    let app = Router::new()
        .route("/v1/responses", post(responses_upstream))
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let extra = format!(
        "[providers.oair]\nkind = \"openai\"\nbase_url = \"http://{addr}/v1\"\nresponses = true\nmax_retries = 0\n\
         [[models]]\nname = \"gpt-4.1\"\nprovider = \"oair\"\nfree = true\n"
    );
    let gw = Gateway::start(dsn, &extra);
    let c = client();
    // Stateful fields pass to an upstream that keeps state.
    let sent = r#"{"model":"gpt-4.1","input":"Tell me a story.","previous_response_id":"resp_up_0","store":true}"#;
    for (body, want) in [
        (sent.to_string(), PLAIN),
        (sent.replace('}', r#","stream":true}"#), STREAM),
    ] {
        let r = c
            .post(gw.url("/v1/responses"))
            .bearer_auth(gw.key.as_deref().unwrap_or(""))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.text().await.expect("body"),
            want,
            "the answer, byte for byte"
        );
        let last = got.lock().expect("lock").last().cloned().expect("received");
        assert_eq!(last.1, body.as_bytes(), "the request, byte for byte");
    }
    assert_eq!(gw.stop().0, 0);
    let rows = ledger(db).await;
    let usage: Vec<([i64; 4], bool, Option<String>)> =
        rows.iter().map(|r| (r.4, r.5, r.2.clone())).collect();
    let api = Some("responses".to_string());
    assert_eq!(
        usage,
        [
            ([30, 6, 0, 87], false, api.clone()),
            ([11, 0, 0, 4], true, api)
        ]
    );
}

crate::dbtest!(a_responses_upstream_is_passed_through_byte_for_byte, |db| {
    a_responses_upstream_is_passed_through_byte_for_byte(&db).await;
});

/// Translated routes keep nothing: what needs stored state is a 400
/// naming the field, and stored responses are a 404 saying why.
pub async fn translated_routes_are_stateless(db: &TestDb) {
    let dsn = &db.dsn;
    let base = start_upstream(Upstream::default()).await;
    let extra = format!(
        "[providers.oai]\nkind = \"openai\"\nbase_url = \"{base}\"\nmax_retries = 0\n\
         [[models]]\nname = \"chat-up\"\nprovider = \"oai\"\nfree = true\n"
    );
    let gw = Gateway::start(dsn, &extra);
    let c = client();
    for (field, value) in [
        ("previous_response_id", json!("resp_1")),
        ("store", json!(true)),
        ("conversation", json!({"id": "conv_1"})),
        ("background", json!(true)),
    ] {
        let body = json!({"model": "chat-up", "input": "hi", field: value});
        let r = post_json(&c, &gw, "/v1/responses", &body).await;
        assert_eq!(r.status(), 400, "{field}");
        let e: Value = r.json().await.expect("json");
        assert_eq!(e["error"]["param"], field, "{e}");
        assert_eq!(e["error"]["code"], "unsupported_parameter", "{e}");
        assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
    }
    let r = post_json(
        &c,
        &gw,
        "/v1/responses",
        &json!({"model": "chat-up", "input": "hi"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-tokctl-dropped").is_none());
    let ok: Value = r.json().await.expect("json");
    assert_eq!(
        (ok["store"].clone(), ok["object"].clone()),
        (json!(false), json!("response"))
    );
    // What cannot be carried is named, as the client sent it.
    let hosted = json!({"model": "chat-up", "input": "hi",
        "tools": [{"type": "web_search_preview"}]});
    let r = post_json(&c, &gw, "/v1/responses", &hosted).await;
    assert_eq!(r.status(), 200);
    let dropped = r
        .headers()
        .get("x-tokctl-dropped")
        .and_then(|v| v.to_str().ok());
    assert_eq!(dropped, Some("tools[].type=web_search_preview"));
    let bad = post_json(&c, &gw, "/v1/responses", &json!({"model": "chat-up"})).await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.expect("body").contains("input"));
    for req in [
        c.get(gw.url("/v1/responses/resp_1")),
        c.delete(gw.url("/v1/responses/resp_1")),
    ] {
        let r = req
            .bearer_auth(gw.key.as_deref().unwrap_or(""))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 404);
        let e: Value = r.json().await.expect("json");
        assert_eq!(e["error"]["code"], "response_not_stored", "{e}");
    }
    assert_eq!(gw.stop().0, 0);
    // Each POST past auth left one row; the lookups left none.
    assert_eq!(ledger(db).await.len(), 7);
}

crate::dbtest!(translated_routes_are_stateless, |db| {
    translated_routes_are_stateless(&db).await;
});

/// `responses = true` belongs to an OpenAI-compatible provider: on any
/// other kind, `config check` exits 2 naming the key.
#[test]
fn responses_on_another_kind_is_refused_naming_the_key() {
    let run = crate::support::Tokctl::new().config(
        "[providers.ant]\nkind = \"anthropic\"\nbase_url = \"https://api.anthropic.com\"\nresponses = true\n\
         [[models]]\nname = \"m\"\nprovider = \"ant\"\nfree = true\n",
    );
    let out = run.run(&["config", "check"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("providers.ant.responses"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("kind = \"anthropic\""),
        "{}",
        out.stderr
    );
}
