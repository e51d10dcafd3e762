//! Item 6: a `kind = "anthropic"` provider takes its base URL with or
//! without `/v1` (as Anthropic's SDKs take it), and the provider probe
//! tells a wrong base path (or a refused key) from "reachable".

use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};

use crate::gateway::harness::{Gateway, Upstream, start_upstream};
use crate::support::{TestDb, Tokctl};

#[tokio::test]
async fn an_anthropic_base_url_without_v1_reaches_v1_messages() {
    let up = Upstream::default();
    let with_v1 = start_upstream(up.clone()).await;
    let root = with_v1
        .strip_suffix("/v1")
        .expect("harness base ends in /v1");
    let db = TestDb::sqlite();
    let extra = format!(
        "[providers.claude]\nkind = \"anthropic\"\nbase_url = \"{root}/\"\nretry_base_ms = 1\n\
         [[models]]\nname = \"claude-public\"\nprovider = \"claude\"\n\
         input_per_mtok = 3.0\noutput_per_mtok = 15.0\n"
    );
    let gw = Gateway::start(&db.dsn, &extra);
    let key = gw.key.clone().expect("bootstrap key");
    let r = reqwest::Client::new()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", &key)
        .json(&json!({"model": "claude-public", "max_tokens": 16,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(up.received.lock().expect("lock").len(), 1);
    let (code, lines) = gw.stop();
    assert_eq!(code, 0, "{lines:?}");
}

/// An OpenAI-shaped upstream with `GET /v1/models`, which wants
/// `Authorization: Bearer good`.
async fn models_upstream() -> SocketAddr {
    let app = Router::new().route(
        "/v1/models",
        get(|h: HeaderMap| async move {
            if h.get("authorization").is_some_and(|v| v == "Bearer good") {
                (StatusCode::OK, r#"{"object":"list","data":[{"id":"m"}]}"#)
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    r#"{"error":{"message":"bad key"}}"#,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn component<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no component {name}: {report}"))
}

// Multi-threaded: the upstream must answer while the test blocks on the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_reports_a_wrong_base_path_and_a_refused_key() {
    let addr = models_upstream().await;
    let db = TestDb::sqlite();
    let config = format!(
        "[ledger]\npath = \"{dsn}\"\n[identity]\npath = \"{dsn}\"\n\
         [providers.good]\nkind = \"openai\"\nbase_url = \"http://{addr}/v1\"\napi_key_env = \"IT_PROBE_KEY\"\n\
         [providers.nopath]\nkind = \"openai\"\nbase_url = \"http://{addr}\"\napi_key_env = \"IT_PROBE_KEY\"\n\
         [providers.badkey]\nkind = \"openai\"\nbase_url = \"http://{addr}/v1\"\napi_key_env = \"IT_PROBE_OTHER_KEY\"\n\
         [[models]]\nname = \"m\"\nprovider = \"good\"\ninput_per_mtok = 1.0\noutput_per_mtok = 1.0\n",
        dsn = db.dsn
    );
    let run = Tokctl::new()
        .config(&config)
        .env("IT_PROBE_KEY", "good")
        .env("IT_PROBE_OTHER_KEY", "wrong");
    run.run(&["migrate"]).expect_code(0);
    let out = run.run(&["health", "--direct", "--json"]);
    out.expect_code(1);
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(component(&v, "good")["status"], "healthy", "{v}");
    let nopath = component(&v, "nopath");
    assert_eq!(nopath["status"], "degraded", "{v}");
    assert!(
        nopath["message"]
            .as_str()
            .is_some_and(|m| m.contains("wrong base path") && m.contains("/models answered 404")),
        "{nopath}"
    );
    let badkey = component(&v, "badkey");
    assert_eq!(badkey["status"], "degraded", "{v}");
    assert!(
        badkey["message"]
            .as_str()
            .is_some_and(|m| m.contains("answered 401") && m.contains("$IT_PROBE_OTHER_KEY")),
        "{badkey}"
    );
}
