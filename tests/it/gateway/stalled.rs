//! Request bodies that stall or break (#28, item 4): a ledger place is
//! taken only once the body is read, so uploads that stall hold nothing
//! others need; a malformed body is a 400 `body_unreadable`, recorded once.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::cases::{chat, client, post};
use super::harness::Gateway;
use super::ledger_rows::rows;

/// 120 connections each hold a half-sent body; the buffer has 50 places.
pub async fn stalled_uploads_hold_no_ledger_places(dsn: String) {
    let gw = Gateway::start(&dsn, "[ledger.async]\nbuffer_size = 50\n");
    let key = gw.key.clone().expect("bootstrap key");
    let mut stalled = Vec::new();
    for _ in 0..120 {
        let mut s = tokio::net::TcpStream::connect(&gw.addr)
            .await
            .expect("connect");
        let head = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"model\":"
        );
        s.write_all(head.as_bytes()).await.expect("write");
        stalled.push(s);
    }
    // Let the gateway take them all in.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t0 = Instant::now();
    let r = post(
        &client(),
        &gw,
        "/v1/chat/completions",
        &chat("gpt-4o-mini", false),
    )
    .await;
    let took = t0.elapsed();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert!(
        took < Duration::from_secs(1),
        "a normal request waited {took:?} behind stalled uploads"
    );
    drop(stalled);

    // A malformed chunked body: 400 body_unreadable, in the OpenAI shape.
    let mut s = tokio::net::TcpStream::connect(&gw.addr)
        .await
        .expect("connect");
    let bad = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{{}}\r\n0\r\n\r\n"
    );
    s.write_all(bad.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"body_unreadable\""), "{answer}");
    assert_eq!(gw.stop().0, 0);
    // One row each: the stalled uploads, closed by their clients, are 499.
    let rows = rows(&dsn).await;
    let count = |status: i64, kind: &str| {
        rows.iter()
            .filter(|r| r.status_code == status && r.error_kind.as_deref() == Some(kind))
            .count()
    };
    assert_eq!(count(400, "body_unreadable"), 1);
    assert_eq!(count(499, "client_closed"), 120);
    assert_eq!(rows.len(), 122, "one row per request");
}
