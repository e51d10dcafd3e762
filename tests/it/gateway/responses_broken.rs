//! Responses streams that break after their 200 head: the client is told
//! with an `error` event numbered after the events it got (translated, or
//! passed through), the connection is then cut so the SDK raises, and the
//! ledger says what the client saw.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::cases::{client, post};
use super::harness::Gateway;
use super::ledger_rows::rows;
use crate::support::TestDb;

/// An upstream over a bare socket that answers with a 200 event-stream
/// head and `events`, then closes mid-body (no chunked terminator).
async fn cutting_upstream(events: Vec<String>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let events = events.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 65536];
                // The request fits one read in practice; the head is all we need.
                let _ = tokio::io::AsyncReadExt::read(&mut sock, &mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                let _ = sock.write_all(head.as_bytes()).await;
                for event in events {
                    let chunk = format!("{:x}\r\n{event}\r\n", event.len());
                    let _ = sock.write_all(chunk.as_bytes()).await;
                    let _ = sock.flush().await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                drop(sock);
            });
        }
    });
    format!("http://{addr}/v1")
}

/// The events received, as `(type, sequence_number)`, and whether the
/// body ended in an error (a cut connection) rather than cleanly.
async fn read_events(resp: reqwest::Response) -> (Vec<(String, i64)>, bool) {
    let mut resp = resp;
    let mut text = Vec::new();
    let cut = loop {
        match resp.chunk().await {
            Ok(Some(b)) => text.extend_from_slice(&b),
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    let text = String::from_utf8_lossy(&text).into_owned();
    let events = text
        .split("\n\n")
        .filter_map(|e| e.split_once("data: "))
        .map(|(_, data)| {
            let v: Value = serde_json::from_str(data).expect("event data is JSON");
            let kind = v["type"].as_str().unwrap_or("").to_string();
            (kind, v["sequence_number"].as_i64().unwrap_or(-1))
        })
        .collect();
    (events, cut)
}

pub async fn broken_responses_streams_are_told_in_sequence(db: &TestDb) {
    let chunk = |w: &str| {
        format!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{w}\"}}}}]}}\n\n"
        )
    };
    let chat_up = cutting_upstream(vec![chunk("one"), chunk(" two")]).await;
    let native = [
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"output\":[]}}\n\n",
        "event: response.in_progress\ndata: {\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"output\":[]}}\n\n",
    ];
    let responses_up = cutting_upstream(native.map(String::from).to_vec()).await;
    let extra = format!(
        "[providers.oai]\nkind = \"openai\"\nbase_url = \"{chat_up}\"\nmax_retries = 0\n\
         [providers.oair]\nkind = \"openai\"\nbase_url = \"{responses_up}\"\nresponses = true\nmax_retries = 0\n\
         [[models]]\nname = \"translated\"\nprovider = \"oai\"\nfree = true\n\
         [[models]]\nname = \"native\"\nprovider = \"oair\"\nfree = true\n"
    );
    let gw = Gateway::start(&db.dsn, &extra);
    let c = client();
    let body = |model: &str| json!({"model": model, "input": "hi", "stream": true});

    let (events, cut) =
        read_events(post(&c, &gw, "/v1/responses", &body("translated")).await).await;
    assert!(
        cut,
        "the connection is cut after the error event: {events:?}"
    );
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "error"
        ]
    );
    let seqs: Vec<i64> = events.iter().map(|(_, s)| *s).collect();
    assert_eq!(
        seqs,
        (0..7).collect::<Vec<i64>>(),
        "numbered in one sequence"
    );

    let (events, cut) = read_events(post(&c, &gw, "/v1/responses", &body("native")).await).await;
    assert!(cut);
    assert_eq!(
        events.last(),
        Some(&("error".to_string(), 2)),
        "after the two events passed through: {events:?}"
    );
    assert_eq!(gw.stop().0, 0);

    // The ledger says what the client saw: a 200 that broke.
    let rows = rows(&db.dsn).await;
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r.status_code, 200, "{r:?}");
        assert!(r.streamed && r.error_kind.is_some(), "{r:?}");
    }
}

crate::dbtest!(broken_responses_streams_are_told_in_sequence, |db| {
    broken_responses_streams_are_told_in_sequence(&db).await;
});
