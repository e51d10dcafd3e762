//! Streams that break after their 200 head, and clients that leave before
//! a slow answer (#29, items 4 and 8): what the client is told, and what
//! the ledger says it was told.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::cases::{chat, client, post};
use super::harness::{Gateway, Upstream, start_upstream};
use super::ledger_rows::rows;

/// How the raw upstream ends its stream after the first events.
#[derive(Clone, Copy)]
enum End {
    /// Closes the socket mid-body (no chunked terminator).
    Cut,
    /// Stays silent, the socket open, for longer than the test runs.
    Silent,
}

/// An upstream over a bare socket that answers every request with a 200
/// event-stream head and five events in `anthropic` or OpenAI form, then
/// ends as `end` says; returns its base URL (…/v1).
async fn breaking_upstream(anthropic: bool, end: End) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 65536];
                // The request fits one read in practice; the head is all we need.
                let _ = tokio::io::AsyncReadExt::read(&mut sock, &mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                let _ = sock.write_all(head.as_bytes()).await;
                for i in 0..5 {
                    let event = if anthropic {
                        format!(
                            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"w{i} \"}}}}\n\n"
                        )
                    } else {
                        format!(
                            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"w{i} \"}}}}]}}\n\n"
                        )
                    };
                    let chunk = format!("{:x}\r\n{event}\r\n", event.len());
                    let _ = sock.write_all(chunk.as_bytes()).await;
                    let _ = sock.flush().await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                match end {
                    End::Cut => drop(sock),
                    End::Silent => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        drop(sock);
                    }
                }
            });
        }
    });
    format!("http://{addr}/v1")
}

/// Reads a streamed answer to its end; the text received and whether
/// the body ended in an error (a cut connection) rather than cleanly.
async fn read_stream(resp: reqwest::Response) -> (String, bool) {
    let mut resp = resp;
    let mut text = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(b)) => text.extend_from_slice(&b),
            Ok(None) => return (String::from_utf8_lossy(&text).into_owned(), false),
            Err(_) => return (String::from_utf8_lossy(&text).into_owned(), true),
        }
    }
}

/// A stream the upstream breaks (cut or silent past the idle timeout) is
/// told to the client in its API's stream form and the connection is cut,
/// so an SDK raises; the entry keeps the 200 the client got, with the
/// error kind (an error row).
pub async fn broken_streams_are_told_and_recorded_as_sent(dsn: String) {
    let openai_cut = breaking_upstream(false, End::Cut).await;
    let openai_silent = breaking_upstream(false, End::Silent).await;
    let anthropic_cut = breaking_upstream(true, End::Cut).await;
    let extra = format!(
        "[providers.cut]\nkind = \"openai\"\nbase_url = \"{openai_cut}\"\nmax_retries = 0\n\
         [providers.silent]\nkind = \"openai\"\nbase_url = \"{openai_silent}\"\nmax_retries = 0\n\
         [providers.acut]\nkind = \"anthropic\"\nbase_url = \"{anthropic_cut}\"\nmax_retries = 0\n\
         [[models]]\nname = \"cut\"\nprovider = \"cut\"\n\
         [[models]]\nname = \"silent\"\nprovider = \"silent\"\n\
         [[models]]\nname = \"acut\"\nprovider = \"acut\"\n"
    );
    let env = [("TOKCTL_SERVER_STREAM_IDLE_TIMEOUT_MS", "500")];
    let gw = Gateway::start_with_env(&dsn, &extra, &env);
    let c = client();

    for (model, code) in [("cut", "upstream_body"), ("silent", "upstream_timeout")] {
        let resp = post(&c, &gw, "/v1/chat/completions", &chat(model, true)).await;
        assert_eq!(resp.status(), 200, "{model}");
        let (text, cut) = read_stream(resp).await;
        assert!(
            text.contains("w4 "),
            "{model}: the events came through: {text}"
        );
        assert!(!text.contains("[DONE]"), "{model}: {text}");
        let last = text
            .trim_end()
            .rsplit("\n\n")
            .next()
            .unwrap_or_default()
            .to_string();
        let data = last
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("{model}: the last event is a data event: {last:?}"));
        let v: serde_json::Value = serde_json::from_str(data).expect("the error event is JSON");
        assert_eq!(v["error"]["code"], code, "{model}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(cut, "{model}: the body must end in an error, not cleanly");
    }

    let body = serde_json::json!({"model": "acut", "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "hello"}]});
    let resp = post(&c, &gw, "/v1/messages", &body).await;
    assert_eq!(resp.status(), 200);
    let (text, cut) = read_stream(resp).await;
    let last = text.trim_end().rsplit("\n\n").next().unwrap_or_default();
    assert!(last.starts_with("event: error\ndata: "), "{text}");
    let v: serde_json::Value =
        serde_json::from_str(last.trim_start_matches("event: error\ndata: ")).expect("JSON");
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], "api_error", "{v}");
    assert!(cut, "the Anthropic stream is cut too");

    assert_eq!(gw.stop().0, 0);
    let mut rows = rows(&dsn).await;
    rows.sort_by(|a, b| a.model.cmp(&b.model));
    let seen: Vec<(&str, i64, Option<&str>, &str)> = rows
        .iter()
        .map(|r| {
            (
                r.model.as_str(),
                r.status_code,
                r.error_kind.as_deref(),
                r.token_source.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("acut", 200, Some("upstream_body"), "partial"),
            ("cut", 200, Some("upstream_body"), "partial"),
            ("silent", 200, Some("upstream_timeout"), "partial"),
        ]
    );
}

/// A client that leaves before a slow upstream answers is recorded 499
/// (`client_closed`), not as the upstream timeout it never saw.
pub async fn a_client_gone_before_a_slow_upstream_is_499(dsn: String) {
    let up = Upstream {
        delay: Duration::from_millis(2500),
        ..Upstream::default()
    };
    let base = start_upstream(up).await;
    let extra = format!(
        "[providers.up]\nkind = \"openai\"\nbase_url = \"{base}\"\ntimeout_ms = 1500\nmax_retries = 0\n\
         [[models]]\nname = \"m\"\nprovider = \"up\"\n"
    );
    let gw = Gateway::start(&dsn, &extra);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .expect("client");
    let r = impatient
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(gw.key.as_deref().unwrap_or(""))
        .json(&chat("m", false))
        .send()
        .await;
    assert!(r.is_err(), "the client gave up: {r:?}");
    // Past the provider's timeout: the detached work has recorded by now.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(gw.stop().0, 0);
    let rows = rows(&dsn).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].status_code, 499, "{rows:?}");
    assert_eq!(rows[0].error_kind.as_deref(), Some("client_closed"));
}
