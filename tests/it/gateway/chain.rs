//! The hash chain and the spool end to end: `tokctl ledger verify` on what
//! a real gateway wrote, after tampering behind its back, and after a
//! kill -9 under load with the spool on.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::harness::Gateway;
use crate::support::TestDb;

const BODY: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;

/// One completion; the gateway's request id when it answered 200 in full.
async fn complete(client: &reqwest::Client, gw_url: &str, key: &str) -> Option<String> {
    let resp = client
        .post(gw_url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(BODY)
        .send()
        .await
        .ok()?;
    let id = resp
        .headers()
        .get("x-request-id")?
        .to_str()
        .ok()?
        .to_string();
    let ok = resp.status() == 200;
    resp.bytes().await.ok()?;
    ok.then_some(id)
}

/// `tokctl ledger verify --json` with the gateway's config, in its directory.
fn verify(dir: &Path) -> (i32, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_tokctl"))
        .arg("--config")
        .arg(dir.join("config.toml"))
        .args(["ledger", "verify", "--json"])
        .current_dir(dir)
        .env_remove("TOKCTL_CONFIG")
        .output()
        .expect("run tokctl ledger verify");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "verify printed no JSON: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

fn first_break(j: &serde_json::Value) -> (String, i64) {
    let b = &j["chains"][0]["first_break"];
    (
        b["kind"].as_str().unwrap_or_default().to_string(),
        b["seq"].as_i64().unwrap_or(-1),
    )
}

pub async fn verify_finds_tampering(db: &TestDb) {
    let gw = Gateway::start(&db.dsn, "[ledger.chain]\nhmac_key = \"test-key\"\n");
    let key = gw.key.clone().expect("bootstrap key");
    let client = reqwest::Client::new();
    let url = gw.url("/v1/chat/completions");
    for _ in 0..20 {
        assert!(complete(&client, &url, &key).await.is_some());
    }
    let dir = gw.stop_keep_dir();
    let (code, j) = verify(dir.path());
    assert_eq!(code, 0, "{j}");
    assert_eq!(j["chains"][0]["entries_checked"], 20);
    assert_eq!(j["chains"][0]["watermark"], 20);
    assert_eq!(j["chains"][0]["keyed"], true);

    db.execute("UPDATE usage_entries SET output_tokens = output_tokens + 1 WHERE seq = 5")
        .await;
    let (code, j) = verify(dir.path());
    assert_eq!((code, first_break(&j)), (1, ("edited".into(), 5)), "{j}");
    db.execute("UPDATE usage_entries SET output_tokens = output_tokens - 1 WHERE seq = 5")
        .await;
    assert_eq!(verify(dir.path()).0, 0, "reverting the edit verifies again");

    db.execute(
        "INSERT INTO usage_entries (request_id, created_at_us, endpoint, model, provider, \
         token_source, latency_us, status_code, streamed) VALUES ('forged', 9000000000000000, \
         '/v1/chat/completions', 'gpt-4o', 'mock', 'provider', 1, 200, FALSE)",
    )
    .await;
    let (code, j) = verify(dir.path());
    assert_eq!(code, 1, "{j}");
    assert_eq!(j["unchained_rows"], 1);
    assert_eq!(j["first_unchained"], "forged");
    db.execute("DELETE FROM usage_entries WHERE request_id = 'forged'")
        .await;

    db.execute("DELETE FROM usage_entries WHERE seq = 20").await;
    let (code, j) = verify(dir.path());
    assert_eq!((code, first_break(&j)), (1, ("deleted".into(), 20)), "{j}");

    db.execute("DELETE FROM usage_entries WHERE seq = 8").await;
    let (code, j) = verify(dir.path());
    assert_eq!((code, first_break(&j)), (1, ("deleted".into(), 8)), "{j}");
}

pub async fn kill9_with_spool_loses_no_answered_entry(db: &TestDb) {
    let extra = "[ledger.async]\nflush_ms = 300\nbatch_size = 50\n";
    let gw = Gateway::start(&db.dsn, extra);
    let key = gw.key.clone().expect("bootstrap key");
    let url = gw.url("/v1/chat/completions");
    let stop_at = Instant::now() + Duration::from_millis(1500);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (url, key) = (url.clone(), key.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let (mut answered, mut sent) = (Vec::new(), 0u64);
                while Instant::now() < stop_at + Duration::from_secs(1) {
                    sent += 1;
                    match complete(&client, &url, &key).await {
                        Some(id) => answered.push(id),
                        None if Instant::now() > stop_at => break,
                        None => {}
                    }
                }
                (answered, sent)
            })
        })
        .collect();
    tokio::time::sleep(stop_at - Instant::now()).await;
    let dir = gw.kill9();
    let mut answered = HashSet::new();
    let mut sent = 0;
    for t in tasks {
        let (ids, n) = t.await.expect("client task");
        answered.extend(ids);
        sent += n;
    }
    assert!(answered.len() > 50, "load ran: {} answers", answered.len());
    let gw = Gateway::start_in(dir, &db.dsn, extra, &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let stored = loop {
        let rows = super::ledger_rows::rows(&db.dsn).await;
        let ids: HashSet<String> = rows.iter().map(|r| r.request_id.clone()).collect();
        if answered.is_subset(&ids) || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let ids: HashSet<String> = stored.iter().map(|r| r.request_id.clone()).collect();
    let missing: Vec<_> = answered.difference(&ids).collect();
    assert!(
        missing.is_empty(),
        "{} answered entries lost: {missing:?}",
        missing.len()
    );
    assert_eq!(ids.len(), stored.len(), "no request id twice");
    assert!(stored.len() as u64 <= sent, "nothing that was never sent");
    let dir = gw.stop_keep_dir();
    let (code, j) = verify(dir.path());
    assert_eq!(code, 0, "{j}");
}
