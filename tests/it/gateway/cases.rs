//! Gateway behaviours, each run on SQLite and on PostgreSQL.

use std::time::Duration;

use futures_util::StreamExt;
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

async fn post(c: &reqwest::Client, gw: &Gateway, path: &str, body: &Value) -> reqwest::Response {
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

/// `server.workers` threads serve the connections: each connection
/// (one client each here) is answered, every request leaves one entry, the
/// upstream is reached from the workers' own pools, and the process runs
/// exactly that many worker threads.
pub async fn workers_share_the_connections(dsn: String) {
    let up = Upstream::default();
    let base = start_upstream(up.clone()).await;
    let extra = format!(
        "[providers.up]\nkind = \"openai\"\nbase_url = \"{base}\"\n\
         [[models]]\nname = \"public\"\nprovider = \"up\"\nupstream_model = \"private-1\"\n"
    );
    let gw = Gateway::start_with_env(&dsn, &extra, &[("TOKCTL_SERVER_WORKERS", "3")]);
    // A thread names itself once it runs, so give them a moment.
    let named = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .expect("the process's threads")
            .filter_map(Result::ok)
            .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
            .filter(|name| name.starts_with("tokctl-worker-"))
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut workers = named(gw.child.id());
    while workers < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        workers = named(gw.child.id());
    }
    assert_eq!(workers, 3, "one thread per configured worker");
    let mut jobs = Vec::new();
    for _ in 0..9 {
        // A client of its own: one connection each, dealt out in turn.
        let c = client();
        let addr = gw.url("/v1/chat/completions");
        let key = gw.key.clone().unwrap_or_default();
        jobs.push(tokio::spawn(async move {
            let mut codes = Vec::new();
            for _ in 0..3 {
                let r = c
                    .post(&addr)
                    .bearer_auth(&key)
                    .json(&chat("public", false))
                    .send()
                    .await
                    .expect("an answer");
                codes.push(r.status().as_u16());
            }
            codes
        }));
    }
    for j in jobs {
        assert_eq!(j.await.expect("join"), [200, 200, 200]);
    }
    assert_eq!(up.received.lock().expect("lock").len(), 27);
    assert_eq!(gw.stop().0, 0);
    let rows = rows(&dsn).await;
    assert_eq!(rows.len(), 27);
    assert!(rows.iter().all(|r| r.status_code == 200), "{rows:?}");
}

/// Takes the ledger's write lock from a connection of the test's own (SQLite:
/// `BEGIN IMMEDIATE`; PostgreSQL: `LOCK TABLE … IN EXCLUSIVE MODE`, which
/// blocks inserts and COPY) and holds it until the returned sender fires or
/// is dropped: the gateway's writer waits meanwhile, as it would for a slow
/// or busy database, so its buffer (or spool) fills.
async fn hold_ledger_lock(db: &crate::support::TestDb) -> tokio::sync::oneshot::Sender<()> {
    use tokctl::db::Db;
    let pool = db.connect().await;
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        match &pool {
            Db::Sqlite(p) => {
                let mut c = p.acquire().await.expect("a SQLite connection");
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut *c)
                    .await
                    .expect("BEGIN IMMEDIATE");
                let _ = locked_tx.send(());
                let _ = release_rx.await;
                sqlx::query("COMMIT")
                    .execute(&mut *c)
                    .await
                    .expect("COMMIT");
            }
            Db::Postgres(p) => {
                let mut c = p.acquire().await.expect("a PostgreSQL connection");
                sqlx::query("BEGIN").execute(&mut *c).await.expect("BEGIN");
                sqlx::query("LOCK TABLE usage_entries IN EXCLUSIVE MODE")
                    .execute(&mut *c)
                    .await
                    .expect("LOCK TABLE");
                let _ = locked_tx.send(());
                let _ = release_rx.await;
                sqlx::query("COMMIT")
                    .execute(&mut *c)
                    .await
                    .expect("COMMIT");
            }
        }
        pool.close().await;
    });
    locked_rx.await.expect("the ledger lock is taken");
    release_tx
}

/// `ledger.async.enabled = false`: an answer ends only once its entry is in
/// the database. With the ledger table locked, the answer waits; once the
/// lock goes, it comes, and its row is already there.
pub async fn inline_writes_finish_before_the_answer(db: &crate::support::TestDb) {
    let gw = Gateway::start(
        &db.dsn,
        "[ledger.async]\nenabled = false\n[ledger.spool]\nenabled = false\n",
    );
    let release = hold_ledger_lock(db).await;
    let req = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(gw.key.as_deref().unwrap_or(""))
        .json(&chat("gpt-4o-mini", false))
        .send();
    let mut req = tokio::spawn(req);
    let early = tokio::time::timeout(Duration::from_millis(700), &mut req).await;
    assert!(
        early.is_err(),
        "the answer came while its entry could not be written"
    );
    let _ = release.send(());
    let resp = req.await.expect("join").expect("request");
    assert_eq!(resp.status(), 200);
    let _ = resp.bytes().await.expect("body");
    // Read before any shutdown flush: the entry was written inline.
    let rows = rows(&db.dsn).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].status_code, 200);
    assert_eq!(gw.stop().0, 0);
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

/// One access line per request, whoever answers it: the relay (with the
/// entry's fields) or the outermost layer (model list, refusals, unknown
/// routes, wrong methods). Each names the gateway's request id.
pub async fn every_request_has_one_access_line(dsn: String) {
    let gw = Gateway::start(&dsn, "[log]\nlevel = \"info\"\n");
    let c = client();
    let key = gw.key.clone().expect("key");
    let mut ids = Vec::new();
    let answers = [
        c.post(gw.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&chat("gpt-4o-mini", false)),
        c.get(gw.url("/v1/models")).bearer_auth(&key),
        c.post(gw.url("/v1/chat/completions"))
            .json(&chat("gpt-4o-mini", false)),
        c.get(gw.url("/v1/nothing-here")).bearer_auth(&key),
        c.get(gw.url("/v1/chat/completions")).bearer_auth(&key),
    ];
    let mut statuses = Vec::new();
    for req in answers {
        let r = req.send().await.expect("request");
        statuses.push(r.status().as_u16());
        let id = r
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("x-request-id")
            .to_string();
        let _ = r.bytes().await;
        ids.push(id);
    }
    assert_eq!(statuses, [200, 200, 401, 404, 405]);
    let (code, log) = gw.stop();
    assert_eq!(code, 0);
    for (id, status) in ids.iter().zip(statuses) {
        let lines: Vec<&String> = log
            .iter()
            .filter(|l| l.contains(id.as_str()) && l.contains(" access "))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "{status}: one access line for {id}: {log:#?}"
        );
        assert!(lines[0].contains(&format!("status={status}")), "{lines:?}");
    }
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

/// CORS when origins are configured: a browser SDK's preflight passes,
/// and scripts may read the ids and the overhead of an answer.
pub async fn cors_lets_browser_sdks_through(dsn: String) {
    let gw = Gateway::start_with_env(
        &dsn,
        "",
        &[("TOKCTL_SERVER_CORS_ALLOW_ORIGINS", "http://app.example")],
    );
    let c = client();
    let r = c
        .request(reqwest::Method::OPTIONS, gw.url("/v1/chat/completions"))
        .header("origin", "http://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,x-stainless-os,anthropic-version",
        )
        .send()
        .await
        .expect("preflight");
    assert!(r.status().is_success(), "{}", r.status());
    let h = r.headers();
    assert_eq!(
        h.get("access-control-allow-origin").map(|v| v.as_bytes()),
        Some(&b"http://app.example"[..])
    );
    let allowed = h
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    for name in [
        "authorization",
        "content-type",
        "x-stainless-os",
        "anthropic-version",
    ] {
        assert!(allowed.contains(name), "{name} not allowed: {allowed}");
    }
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .header("origin", "http://app.example")
        .bearer_auth(gw.key.as_deref().unwrap_or(""))
        .json(&chat("gpt-4o-mini", false))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let exposed = r
        .headers()
        .get("access-control-expose-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    for name in ["x-request-id", "x-tokctl-overhead-us"] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }
    // Another origin gets no CORS grant.
    let r = c
        .request(reqwest::Method::OPTIONS, gw.url("/v1/chat/completions"))
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert_eq!(gw.stop().0, 0);
}

/// `serve --listen ADDR` overrides `server.listen`: the gateway binds the
/// flag's address and says so, and answers there.
pub async fn the_listen_flag_overrides_the_config(dsn: String) {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:1\"\n[ledger]\npath = \"{dsn}\"\n\
             dead_letter_path = \"{}\"\n[identity]\npath = \"{dsn}\"\n",
            dir.path().join("dead.jsonl").display()
        ),
    )
    .expect("config");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let want = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tokctl"))
        .arg("--config")
        .arg(&cfg)
        .args(["serve", "--listen", &want])
        .current_dir(dir.path())
        .env_remove("TOKCTL_CONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn tokctl serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut said = None;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) {
        if let Some(rest) = line.split("listening on ").nth(1) {
            said = Some(rest.trim().to_string());
            break;
        }
    }
    let answer = client()
        .get(format!("http://{want}/livez"))
        .send()
        .await
        .map(|r| r.status().as_u16());
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().expect("wait");
    assert_eq!(said.as_deref(), Some(want.as_str()));
    assert_eq!(answer.ok(), Some(200));
    assert_eq!(status.code(), Some(0));
}

/// Requests each SIGTERM test sends (64 at a time); `TOKCTL_TEST_SIGTERM_REQUESTS`
/// sets another number.
fn sigterm_requests() -> usize {
    std::env::var("TOKCTL_TEST_SIGTERM_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// Load then SIGTERM: every answered request is in the ledger (block policy),
/// or rows plus dropped equal requests (drop policy). `spool`: with the
/// spool as shipped, or off (entries then reach the writer's channel through
/// each worker's front, in groups). Under "drop" the ledger table is locked
/// for the first third of the load, so that the buffer (spool off) or the
/// spool (on, with a small `max_bytes`) really fills and entries are dropped;
/// a dropped entry takes no sequence number, so the chain stays contiguous.
pub async fn load_then_sigterm_loses_nothing(
    db: &crate::support::TestDb,
    on_full: &str,
    spool: bool,
) {
    let dsn = db.dsn.clone();
    let drop_policy = on_full == "drop";
    let extra = format!(
        "[ledger.async]\nbatch_size = 200\nflush_ms = 50\nbuffer_size = {}\non_full = \"{on_full}\"\n\
         [ledger.spool]\nenabled = {spool}\n{}",
        if drop_policy { 16 } else { 1000 },
        if drop_policy {
            "max_bytes = 65536\nsegment_bytes = 16384\n"
        } else {
            ""
        }
    );
    let gw = Gateway::start(&dsn, &extra);
    let key = gw.key.clone().expect("key");
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let url = gw.url("/v1/chat/completions");
    let total = sigterm_requests();
    let ok = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let lock = if drop_policy {
        Some(hold_ledger_lock(db).await)
    } else {
        None
    };
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (c, url, key, ok, next) = (
            c.clone(),
            url.clone(),
            key.clone(),
            ok.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                let r = c
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&chat("gpt-4o-mini", false))
                    .send()
                    .await;
                if let Ok(r) = r
                    && r.status() == 200
                    && r.bytes().await.is_ok()
                {
                    ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    if let Some(release) = lock {
        // Released after a third of the load, or after 3 s at most (under
        // SQLite's 5 s busy timeout, so the writer waits rather than fails).
        let until = std::time::Instant::now() + Duration::from_secs(3);
        while ok.load(std::sync::atomic::Ordering::Relaxed) < total / 3
            && std::time::Instant::now() < until
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = release.send(());
    }
    for t in tasks {
        t.await.expect("task");
    }
    let answered = ok.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(answered, total);
    let (code, log) = gw.stop();
    assert_eq!(code, 0);
    let rows = rows(&dsn).await.len();
    let dropped: usize = log
        .iter()
        .find(|l| l.contains("ledger flushed"))
        .and_then(|l| l.split("dropped=").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no shutdown report in the log: {log:?}"));
    if drop_policy {
        assert!(
            dropped > 0,
            "the locked ledger made the writer drop entries"
        );
        assert_eq!(rows + dropped, total, "rows + dropped = requests");
    } else {
        assert_eq!(rows, answered, "every answered request is in the ledger");
        assert_eq!(dropped, 0);
    }
    // Dropped entries took no number: the chain has no hole and no gap row.
    let top = db
        .scalar("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM usage_entries")
        .await;
    assert_eq!(
        usize::try_from(top).expect("seq"),
        rows,
        "sequence numbers 1..=rows"
    );
    assert_eq!(
        db.scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM ledger_gaps")
            .await,
        0
    );
}

/// The official OpenAI and Anthropic SDKs (Python) against the gateway:
/// plain, streamed, embeddings, model list, errors, Anthropic messages.
pub async fn official_sdks_work(dsn: String) {
    let has_sdks = std::process::Command::new("python3")
        .args(["-c", "import openai, anthropic"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_sdks,
        "the OpenAI and Anthropic Python SDKs are missing: `pip install openai anthropic` (scripts/install-test-deps.sh does it)"
    );
    let gw = Gateway::start(&dsn, "");
    let key = gw.key.clone().expect("key");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/sdk_smoke.py");
    let out = tokio::process::Command::new("python3")
        .args([script, &format!("http://{}", gw.addr), &key])
        .output()
        .await
        .expect("run python3");
    assert!(
        out.status.success(),
        "SDK smoke failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(gw.stop().0, 0);
    assert_eq!(
        rows(&dsn).await.len(),
        6,
        "one entry per POST the SDKs made (GET /v1/models is not ledgered)"
    );
}
