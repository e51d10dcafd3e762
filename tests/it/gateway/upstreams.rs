//! Real upstreams over real sockets: which failures are retried (only those
//! where the request provably never reached the upstream, plus 429 and
//! 5xx answers), the Anthropic provider end to end, and an OpenAI-compatible
//! stream that trickles in while its client walks away.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::cases::{chat, client};
use super::harness::{
    ANTHROPIC_CACHE_READ, ANTHROPIC_CACHE_WRITE, ANTHROPIC_INPUT, ANTHROPIC_OUTPUT,
    ANTHROPIC_REQUEST_ID, ANTHROPIC_STREAM_OUTPUT, Gateway, Hangup, Upstream, anthropic_events,
    start_raw_upstream, start_upstream,
};
use super::ledger_rows::rows;

async fn post_chat(gw: &Gateway, model: &str, stream: bool) -> reqwest::Response {
    client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(gw.key.as_deref().unwrap_or(""))
        .json(&chat(model, stream))
        .send()
        .await
        .expect("request")
}

/// One provider `up` at `base` with `max_retries`, serving model `m`.
fn one_provider(base: &str, max_retries: u32, retry_base_ms: u64) -> String {
    format!(
        "[providers.up]\nkind = \"openai\"\nbase_url = \"{base}\"\nmax_retries = {max_retries}\n\
         retry_base_ms = {retry_base_ms}\n[[models]]\nname = \"m\"\nprovider = \"up\"\n"
    )
}

/// An upstream that read the request and then hung up (reset or close)
/// may have billed it: the gateway must not send it again, whatever its
/// retry budget, and answers 502 naming the provider. Through hyper-util
/// (the direct path) and reqwest (the path behind an environment proxy).
async fn hangup_after_request_is_not_retried(hangup: Hangup, via_proxy: bool) {
    let db = crate::support::TestDb::sqlite();
    let (base, count, _) = start_raw_upstream(hangup).await;
    let proxy = base.trim_end_matches("/v1").to_string();
    let gw = if via_proxy {
        // The raw server plays the proxy: reqwest sends it the request in
        // absolute form, and it hangs up just the same.
        let extra = one_provider("http://upstream.invalid/v1", 3, 1);
        Gateway::start_with_env(
            &db.dsn,
            &extra,
            &[("HTTP_PROXY", proxy.as_str()), ("NO_PROXY", "")],
        )
    } else {
        Gateway::start(&db.dsn, &one_provider(&base, 3, 1))
    };
    let r = post_chat(&gw, "m", false).await;
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.expect("json");
    let message = v["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("`up`"), "names the provider: {v}");
    assert_eq!(v["error"]["code"], "upstream_dropped", "{v}");
    // Give a (wrong) retry every chance to arrive before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "the upstream read the request once and must not get it again ({hangup:?}, proxy: {via_proxy})"
    );
    let (code, lines) = gw.stop();
    assert_eq!(code, 0);
    assert!(
        !lines.iter().any(|l| l.contains("retrying")),
        "no retry was logged: {lines:?}"
    );
    let rows = rows(&db.dsn).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].status_code, 502);
    assert_eq!(rows[0].error_kind.as_deref(), Some("upstream_dropped"));
}

#[tokio::test]
async fn an_upstream_reset_after_reading_is_called_once() {
    hangup_after_request_is_not_retried(Hangup::Reset, false).await;
}

#[tokio::test]
async fn an_upstream_closing_after_reading_is_called_once() {
    hangup_after_request_is_not_retried(Hangup::Close, false).await;
}

#[tokio::test]
async fn an_upstream_reset_after_reading_is_called_once_via_proxy() {
    hangup_after_request_is_not_retried(Hangup::Reset, true).await;
}

/// A pooled keep-alive connection that the upstream closed while idle is
/// not used again: the next request goes out on a new connection and
/// succeeds, sent once (no 502 from a stale connection, no double send).
#[tokio::test]
async fn a_keep_alive_connection_closed_while_idle_is_replaced() {
    let db = crate::support::TestDb::sqlite();
    let (base, count, connections) =
        start_raw_upstream(Hangup::AnswerThenClose(Duration::from_millis(50))).await;
    let gw = Gateway::start(&db.dsn, &one_provider(&base, 0, 1));
    for i in 0..3 {
        let r = post_chat(&gw, "m", false).await;
        assert_eq!(r.status(), 200, "request {i}: {:?}", r.text().await);
        // Past the upstream's idle close.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(count.load(Ordering::SeqCst), 3, "each request sent once");
    // The server answers one request per connection, so 3 answered
    // requests took 3 connections; the gateway's reachability probe may
    // have opened one more, without a request.
    assert!(connections.load(Ordering::SeqCst) >= 3);
    assert_eq!(gw.stop().0, 0);
    let rows = rows(&db.dsn).await;
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|r| r.status_code == 200 && r.token_source == "provider")
    );
}

/// An upstream whose port is closed at first: connection refused, nothing
/// sent, so the gateway retries with backoff and gets through once the
/// upstream is up.
#[tokio::test]
async fn an_upstream_not_listening_yet_is_retried_on_connect() {
    let db = crate::support::TestDb::sqlite();
    let port = crate::support::free_port();
    let base = format!("http://127.0.0.1:{port}/v1");
    // Backoffs of about 0.2, 0.4, 0.8, 1.6, 3.2 s (±50%): the first retry
    // that comes after the upstream starts (at 0.4 s) gets through.
    let gw = Gateway::start(&db.dsn, &one_provider(&base, 5, 200));
    let started = Instant::now();
    let call = tokio::spawn({
        let url = gw.url("/v1/chat/completions");
        let key = gw.key.clone().unwrap_or_default();
        async move {
            client()
                .post(url)
                .bearer_auth(key)
                .json(&chat("m", false))
                .send()
                .await
                .expect("request")
        }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let up = Upstream::default();
    let app_base = start_upstream_on(up.clone(), port).await;
    assert_eq!(app_base, base);
    let r = call.await.expect("join");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(up.received.lock().expect("lock").len(), 1);
    let (code, lines) = gw.stop();
    assert_eq!(code, 0);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("upstream not reached; retrying")),
        "the refused connects were retried: {lines:?}"
    );
    let rows = rows(&db.dsn).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status_code, 200);
    assert_eq!(rows[0].token_source, "provider");
}

/// Binds the harness upstream on a given port (one picked free before).
async fn start_upstream_on(up: Upstream, port: u16) -> String {
    super::harness::start_upstream_at(up, &format!("127.0.0.1:{port}")).await
}

/// A 429 and a 503 are retried and the third call succeeds; with a budget
/// of one retry, two 503s give the client the second 503 (the upstream's
/// own answer) after exactly two calls.
#[tokio::test]
async fn status_429_and_5xx_are_retried_within_the_budget() {
    let db = crate::support::TestDb::sqlite();
    let flaky = Upstream::default();
    flaky.fail_first.lock().expect("lock").extend([429, 503]);
    let flaky_base = start_upstream(flaky.clone()).await;
    let down = Upstream::default();
    down.fail_first
        .lock()
        .expect("lock")
        .extend([503, 503, 503]);
    let down_base = start_upstream(down.clone()).await;
    let extra = format!(
        "[providers.flaky]\nkind = \"openai\"\nbase_url = \"{flaky_base}\"\nmax_retries = 2\nretry_base_ms = 1\n\
         [providers.down]\nkind = \"openai\"\nbase_url = \"{down_base}\"\nmax_retries = 1\nretry_base_ms = 1\n\
         [[models]]\nname = \"a\"\nprovider = \"flaky\"\n[[models]]\nname = \"b\"\nprovider = \"down\"\n"
    );
    let gw = Gateway::start(&db.dsn, &extra);
    let r = post_chat(&gw, "a", false).await;
    assert_eq!(r.status(), 200);
    assert_eq!(flaky.received.lock().expect("lock").len(), 3);
    let r = post_chat(&gw, "b", false).await;
    assert_eq!(r.status(), 503);
    assert_eq!(down.received.lock().expect("lock").len(), 2);
    assert_eq!(gw.stop().0, 0);
    let mut codes: Vec<i64> = rows(&db.dsn).await.iter().map(|r| r.status_code).collect();
    codes.sort_unstable();
    assert_eq!(codes, [200, 503], "one entry per client request");
}

/// The provider's key, from the env var the config names.
const ANTHROPIC_KEY: &str = "sk-ant-test-provider-key";

/// Prices per Mtok: input 3, cache read 0.3, cache write 3.75, output 15,
/// i.e. 3000, 300, 3750 and 15000 nano per token.
fn anthropic_cost(output: i64) -> i64 {
    ANTHROPIC_INPUT * 3000
        + ANTHROPIC_CACHE_READ * 300
        + ANTHROPIC_CACHE_WRITE * 3750
        + output * 15000
}

/// `kind = "anthropic"` over a real socket, plain and streamed: the
/// upstream gets the provider's `x-api-key` (never the client's gateway
/// key), `anthropic-version` (the client's, or the default), the client's
/// `anthropic-beta` and the upstream model name; the client gets the
/// upstream's bytes and its request id; the ledger holds Anthropic's usage
/// normalised (input excludes cache reads and writes) and priced.
pub async fn anthropic_upstream_end_to_end(dsn: String) {
    let up = Upstream {
        // Each event in a write of its own.
        chunk_interval: Duration::from_millis(5),
        ..Default::default()
    };
    let base = start_upstream(up.clone()).await;
    let extra = format!(
        "[providers.claude]\nkind = \"anthropic\"\nbase_url = \"{base}\"\n\
         api_key_env = \"TOKCTL_TEST_ANTHROPIC_KEY\"\nretry_base_ms = 1\n\
         [[models]]\nname = \"claude-public\"\nprovider = \"claude\"\nupstream_model = \"claude-upstream-9\"\n\
         input_per_mtok = 3.0\ncached_input_per_mtok = 0.3\ncache_write_per_mtok = 3.75\noutput_per_mtok = 15.0\n"
    );
    let gw = Gateway::start_with_env(
        &dsn,
        &extra,
        &[("TOKCTL_TEST_ANTHROPIC_KEY", ANTHROPIC_KEY)],
    );
    let key = gw.key.clone().expect("bootstrap key");
    let c = client();
    let body = |stream: bool| {
        json!({"model": "claude-public", "max_tokens": 64, "stream": stream,
               "messages": [{"role": "user", "content": "hi"}]})
    };

    let r = c
        .post(gw.url("/v1/messages"))
        .header("x-api-key", &key)
        .header("anthropic-version", "2023-01-01")
        .header("anthropic-beta", "prompt-caching-2024-07-31")
        .json(&body(false))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-upstream-request-id"], ANTHROPIC_REQUEST_ID);
    let plain_id = r.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["type"], "message");
    assert_eq!(v["content"][0]["text"], "Hello from Claude");
    assert_eq!(v["usage"]["cache_read_input_tokens"], ANTHROPIC_CACHE_READ);

    let r = c
        .post(gw.url("/v1/messages"))
        .header("x-api-key", &key)
        .json(&body(true))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/event-stream")
    );
    assert_eq!(r.headers()["x-upstream-request-id"], ANTHROPIC_REQUEST_ID);
    let text = r.text().await.expect("body");
    assert_eq!(
        text,
        anthropic_events("claude-upstream-9").concat(),
        "the events reach the client byte for byte"
    );

    {
        let got = up.received.lock().expect("lock");
        assert_eq!(got.len(), 2);
        for (i, (h, b)) in got.iter().enumerate() {
            assert_eq!(h["x-api-key"], ANTHROPIC_KEY, "request {i}");
            assert!(
                !h.contains_key("authorization"),
                "no bearer token to Anthropic"
            );
            let sent: Value = serde_json::from_slice(b).expect("json body");
            assert_eq!(sent["model"], "claude-upstream-9");
            assert_eq!(sent["max_tokens"], 64);
        }
        let versions: Vec<_> = got[0].0.get_all("anthropic-version").iter().collect();
        assert_eq!(versions, ["2023-01-01"], "the client's version, once");
        assert_eq!(got[0].0["anthropic-beta"], "prompt-caching-2024-07-31");
        assert_eq!(got[1].0["anthropic-version"], "2023-06-01", "the default");
    }

    assert_eq!(gw.stop().0, 0);
    let rows = rows(&dsn).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let plain = rows
        .iter()
        .find(|r| r.request_id == plain_id)
        .expect("plain row");
    let streamed = rows.iter().find(|r| r.streamed).expect("streamed row");
    for (r, output) in [
        (plain, ANTHROPIC_OUTPUT),
        (streamed, ANTHROPIC_STREAM_OUTPUT),
    ] {
        assert_eq!(r.status_code, 200);
        assert_eq!(r.model, "claude-public");
        assert_eq!(
            (r.input_tokens, r.cached_input_tokens, r.output_tokens),
            (ANTHROPIC_INPUT, ANTHROPIC_CACHE_READ, output),
            "{r:?}"
        );
        assert_eq!(r.token_source, "provider");
        assert_eq!(r.cost_nano, anthropic_cost(output), "{r:?}");
        assert_eq!(r.upstream_request_id.as_deref(), Some(ANTHROPIC_REQUEST_ID));
    }
    let writes: Vec<i64> = rows.iter().map(|r| r.cache_write_tokens).collect();
    assert_eq!(writes, [ANTHROPIC_CACHE_WRITE; 2]);
}

crate::dbtest!(anthropic_upstream_is_driven_end_to_end, |db| {
    anthropic_upstream_end_to_end(db.dsn.clone()).await;
});

/// An OpenAI-compatible upstream trickling its stream (one event every
/// 100 ms, each its own write) and a client that leaves after the first
/// chunk: one entry, 499 `client_closed`, the tokens streamed so far marked
/// partial; and the gateway lets go of the upstream stream at once.
pub async fn trickled_stream_with_client_gone(dsn: String) {
    const WORDS: usize = 30;
    let up = Upstream {
        stream_usage: true,
        chunk_interval: Duration::from_millis(100),
        stream_words: WORDS,
        ..Default::default()
    };
    let base = start_upstream(up.clone()).await;
    let gw = Gateway::start(&dsn, &one_provider(&base, 2, 1));
    let c = client();
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(gw.key.as_deref().unwrap_or(""))
        .json(&chat("m", true))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let mut s = r.bytes_stream();
    let first = s.next().await.expect("a first chunk").expect("bytes");
    assert!(String::from_utf8_lossy(&first).contains("word00"));
    drop(s);
    drop(c);
    // The whole stream (30 words, the usage chunk, [DONE]) takes 3.2 s;
    // well before that the upstream should see no more reads.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sent_then = up.events_sent.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let sent_later = up.events_sent.load(Ordering::SeqCst);
    assert!(
        sent_later < WORDS + 2,
        "the upstream stream was not abandoned: {sent_later} events sent"
    );
    assert_eq!(sent_then, sent_later, "the upstream kept being read");
    assert_eq!(gw.stop().0, 0);
    let rows = rows(&dsn).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r.status_code, 499, "{r:?}");
    assert_eq!(r.error_kind.as_deref(), Some("client_closed"));
    assert_eq!(r.token_source, "partial");
    assert!(r.streamed);
    // Each word is " wordNN", 7 characters: the whole stream would be
    // estimated at 53 tokens; at least the first word was relayed.
    let whole = (WORDS * 7).div_ceil(4) as i64;
    assert!(
        r.output_tokens >= 2 && r.output_tokens < whole,
        "tokens so far: {r:?}"
    );
}

crate::dbtest!(trickled_stream_client_gone_is_recorded_partial, |db| {
    trickled_stream_with_client_gone(db.dsn.clone()).await;
});
