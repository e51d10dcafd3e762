//! Client connections that hold sockets without asking anything (issue
//! #29, item 5), against the real binary over real sockets: a half-sent
//! request head is cut off after `server.header_read_timeout_ms`, an idle
//! keep-alive connection after `server.keepalive_idle_timeout_ms` (and not
//! after the shorter header timeout), and past `server.max_connections`
//! new connections are closed at once while open ones keep answering.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::harness::Gateway;
use crate::support::TestDb;

const LIVEZ: &[u8] = b"GET /livez HTTP/1.1\r\nHost: gw\r\n\r\n";

/// Waits up to `limit` for the server to close `s`: true when it did
/// (end of stream or reset), false when it is still open.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // Bytes (a response): keep reading until the end.
            Ok(Ok(_)) => {}
        }
    }
}

/// Sends one request and reads its whole (small) answer; its status line.
async fn request(s: &mut TcpStream, req: &[u8]) -> String {
    s.write_all(req).await.expect("send");
    let mut buf = vec![0u8; 4096];
    let mut got = 0;
    while !String::from_utf8_lossy(&buf[..got]).contains("\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf[got..]))
            .await
            .expect("an answer within 5 s")
            .expect("read");
        assert!(n > 0, "closed before answering");
        got += n;
    }
    let text = String::from_utf8_lossy(&buf[..got]);
    text.lines().next().unwrap_or_default().to_string()
}

/// A gateway with `server.*` keys set (by environment: the harness's
/// config file has its own `[server]`).
fn start(server: &[(&str, &str)]) -> (Gateway, TestDb) {
    let db = TestDb::sqlite();
    let env: Vec<(String, &str)> = server
        .iter()
        .map(|(k, v)| (format!("TOKCTL_SERVER_{}", k.to_ascii_uppercase()), *v))
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let gw = Gateway::start_with_env(&db.dsn, "", &env);
    (gw, db)
}

#[tokio::test]
async fn a_half_sent_head_is_cut_off_after_the_header_timeout() {
    let (gw, _db) = start(&[
        ("header_read_timeout_ms", "500"),
        ("keepalive_idle_timeout_ms", "60000"),
    ]);
    // Slow but in time: the head in two parts 200 ms apart is answered.
    let mut ok = TcpStream::connect(&gw.addr).await.expect("connect");
    ok.write_all(b"GET /livez HTTP/1.1\r\n")
        .await
        .expect("send");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        request(&mut ok, b"Host: gw\r\n\r\n")
            .await
            .contains(" 200 ")
    );

    // Half a head, then nothing: closed after about 500 ms.
    let mut slow = TcpStream::connect(&gw.addr).await.expect("connect");
    let start = Instant::now();
    slow.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n")
        .await
        .expect("send");
    assert!(
        closed_within(&mut slow, Duration::from_secs(5)).await,
        "a half-sent head still holds its socket after 5 s"
    );
    let after = start.elapsed();
    assert!(
        after >= Duration::from_millis(400),
        "closed after {after:?}"
    );
    // Nothing at all: the same.
    let mut silent = TcpStream::connect(&gw.addr).await.expect("connect");
    assert!(closed_within(&mut silent, Duration::from_secs(5)).await);
    assert_eq!(gw.stop().0, 0);
}

#[tokio::test]
async fn an_idle_keepalive_connection_is_closed_after_the_idle_timeout() {
    // The idle limit is longer than the header limit, and applies alone.
    let (gw, _db) = start(&[
        ("header_read_timeout_ms", "300"),
        ("keepalive_idle_timeout_ms", "1500"),
    ]);
    let mut s = TcpStream::connect(&gw.addr).await.expect("connect");
    assert!(request(&mut s, LIVEZ).await.contains(" 200 "));
    // Idle past the header timeout: still open, and answers.
    assert!(!closed_within(&mut s, Duration::from_millis(800)).await);
    assert!(request(&mut s, LIVEZ).await.contains(" 200 "));
    let start = Instant::now();
    assert!(
        closed_within(&mut s, Duration::from_secs(6)).await,
        "an idle keep-alive connection is still open after 6 s"
    );
    let after = start.elapsed();
    assert!(
        after >= Duration::from_millis(1_300),
        "closed after {after:?}, before the idle timeout"
    );
    assert_eq!(gw.stop().0, 0);
}

#[tokio::test]
async fn past_max_connections_new_ones_are_closed_while_open_ones_answer() {
    let (gw, _db) = start(&[
        ("max_connections", "4"),
        ("header_read_timeout_ms", "30000"),
    ]);
    // A pooled keep-alive connection, opened before the flood.
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(gw.url(path)).send();
    assert_eq!(get("/livez").await.expect("livez").status(), 200);
    // Three more fill the cap; they send nothing.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(&gw.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..6 {
        let mut extra = TcpStream::connect(&gw.addr).await.expect("connect");
        assert!(
            closed_within(&mut extra, Duration::from_secs(1)).await,
            "connection {} past the cap was not closed at once",
            i + 1
        );
    }
    // The open connection still answers, and the refusals are counted.
    assert_eq!(get("/livez").await.expect("livez").status(), 200);
    let metrics = get("/metrics")
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} not in /metrics"))
    };
    assert_eq!(value("tokctl_connections_refused_total"), 6.0);
    assert_eq!(value("tokctl_open_connections"), 4.0);
    // Once the held ones go, new connections are served again.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = TcpStream::connect(&gw.addr).await.expect("connect");
        s.write_all(LIVEZ).await.expect("send");
        let mut buf = [0u8; 64];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await
            && n > 0
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no room after the held connections closed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, log) = gw.stop();
    assert_eq!(code, 0, "{log:?}");
    let warned = log
        .iter()
        .filter(|l| l.contains("connection limit reached"))
        .count();
    assert!(
        (1..=2).contains(&warned),
        "logged at most once a second: {log:?}"
    );
}
