//! Two tamperings `ledger verify` once missed: a chain deleted whole (its
//! rows and its `ledger_chains` row), and a row forged just above the
//! committed watermark, where entries not yet committed are allowed.

use std::time::{Duration, Instant};

use super::chain::{complete, component, health, verify};
use super::harness::Gateway;
use crate::support::TestDb;

/// A keyed gateway that answered `n` requests, stopped; its directory.
async fn written(db: &TestDb, n: usize) -> tempfile::TempDir {
    written_with_key(db, n).await.0
}

/// [`written`], and the bootstrap key (printed at the first start only).
async fn written_with_key(db: &TestDb, n: usize) -> (tempfile::TempDir, String) {
    let gw = Gateway::start(&db.dsn, "[ledger.chain]\nhmac_key = \"test-key\"\n");
    let key = gw.key.clone().expect("bootstrap key");
    let client = reqwest::Client::new();
    let url = gw.url("/v1/chat/completions");
    for _ in 0..n {
        assert!(complete(&client, &url, &key).await.is_some());
    }
    (gw.stop_keep_dir(), key)
}

pub async fn a_chain_deleted_whole_is_found_by_its_head_file(db: &TestDb) {
    let dir = written(db, 5).await;
    let (code, j) = verify(dir.path());
    assert_eq!(code, 0, "{j}");
    let instance = j["chains"][0]["instance_id"]
        .as_str()
        .expect("the chain's name")
        .to_string();
    let rows = format!("DELETE FROM usage_entries WHERE instance_id = '{instance}'");
    assert_eq!(db.execute(&rows).await, 5);
    let chain = format!("DELETE FROM ledger_chains WHERE instance_id = '{instance}'");
    assert_eq!(db.execute(&chain).await, 1);
    let (code, j) = verify(dir.path());
    assert_eq!(code, 1, "the head file names a chain the ledger lacks: {j}");
    let report = &j["chains"][0];
    assert_eq!(report["instance_id"], instance.as_str(), "{j}");
    assert_eq!(report["first_break"]["kind"], "deleted_chain", "{j}");
    assert_eq!(report["first_break"]["seq"], 5, "{j}");
}

pub async fn a_row_forged_above_the_watermark_is_found(db: &TestDb) {
    let dir = written(db, 5).await;
    let (code, j) = verify(dir.path());
    assert_eq!(
        (code, &j["chains"][0]["watermark"]),
        (0, &serde_json::json!(5)),
        "{j}"
    );
    // A copy of entry 5 placed at 6, linked to 5, with a hash the forger
    // cannot make without the key.
    let forge = "INSERT INTO usage_entries (request_id, created_at_us, endpoint, model, provider, \
        input_tokens, output_tokens, token_source, cost_nano, latency_us, status_code, streamed, \
        instance_id, seq, prev_hash, entry_hash, chain_version) \
        SELECT 'forged-6', created_at_us + 1, endpoint, model, provider, input_tokens, \
        output_tokens * 1000, token_source, cost_nano * 1000, latency_us, status_code, streamed, \
        instance_id, 6, entry_hash, prev_hash, chain_version FROM usage_entries WHERE seq = 5";
    assert_eq!(db.execute(forge).await, 1);
    let (code, j) = verify(dir.path());
    assert_eq!(code, 1, "a row above the watermark that is no link: {j}");
    assert_eq!(j["chains"][0]["first_break"]["kind"], "inserted", "{j}");
    assert_eq!(j["chains"][0]["first_break"]["seq"], 6, "{j}");
    assert_eq!(
        j["chains"][0]["first_break"]["request_id"], "forged-6",
        "{j}"
    );
}

/// After the forgery, a restarted gateway cannot move its watermark past
/// the forged number: its health says so (unhealthy, naming the entry)
/// instead of staying silent while the backlog grows.
pub async fn a_watermark_stuck_on_a_forged_row_is_unhealthy(db: &TestDb) {
    let (dir, key) = written_with_key(db, 5).await;
    let forge = "INSERT INTO usage_entries (request_id, created_at_us, endpoint, model, provider, \
        input_tokens, output_tokens, token_source, cost_nano, latency_us, status_code, streamed, \
        instance_id, seq, prev_hash, entry_hash, chain_version) \
        SELECT 'forged-6', created_at_us + 1, endpoint, model, provider, input_tokens, \
        output_tokens, token_source, cost_nano, latency_us, status_code, streamed, \
        instance_id, 6, entry_hash, prev_hash, chain_version FROM usage_entries WHERE seq = 5";
    assert_eq!(db.execute(forge).await, 1);
    let gw = Gateway::start_in(
        dir,
        &db.dsn,
        "[ledger.chain]\nhmac_key = \"test-key\"\n",
        &[],
    );
    let client = reqwest::Client::new();
    let url = gw.url("/v1/chat/completions");
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(complete(&client, &url, &key).await.is_some());
        let (_, report) = health(&client, &gw).await;
        let (status, message) = component(&report, "ledger_writer");
        if status == "unhealthy" {
            assert!(message.contains("watermark has stayed at 5"), "{message}");
            assert!(message.contains("numbered 6"), "{message}");
            break;
        }
        assert!(
            Instant::now() < until,
            "a stuck watermark stayed silent: {report}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `verify --since WHEN` checks every entry created since then, whatever
/// its number: an edit before that time is outside it, an edit after is
/// found; a bare number is refused with a pointer to --from-seq.
pub async fn verify_since_a_time_checks_the_entries_since(db: &TestDb) {
    let dir = written(db, 6).await;
    let mut times = Vec::new();
    for seq in 1..=6 {
        let one = format!("SELECT created_at_us FROM usage_entries WHERE seq = {seq}");
        times.push(db.scalar(&one).await);
    }
    // Entry 2 edited: outside a walk since entry 4's time, inside one since the start.
    let edit = "UPDATE usage_entries SET cost_nano = cost_nano + 1 WHERE seq = 2";
    assert_eq!(db.execute(edit).await, 1);
    let since = |us: i64| {
        chrono::DateTime::from_timestamp_micros(us)
            .expect("a time")
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    };
    let run = |args: &[&str]| {
        let mut all = vec!["ledger", "verify", "--json"];
        all.extend_from_slice(args);
        let out = super::chain::tokctl_in(dir.path(), &all);
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        (out.status.code().unwrap_or(-1), j)
    };
    let (code, j) = run(&["--since", &since(times[3])]);
    assert_eq!(code, 0, "entries 4..6 are intact: {j}");
    assert_eq!(j["chains"][0]["entries_checked"], 3, "{j}");
    let (code, j) = run(&["--since", &since(times[1])]);
    assert_eq!(code, 1, "entry 2 is since then: {j}");
    assert_eq!(j["chains"][0]["first_break"]["seq"], 2, "{j}");
    let (code, _) = run(&["--since", "4"]);
    assert_eq!(code, 2, "a bare number is a sequence: --from-seq");
}

crate::dbtest!(verify_since_a_time_checks_the_entries_since, |db| {
    verify_since_a_time_checks_the_entries_since(&db).await;
});
crate::dbtest!(a_chain_deleted_whole_is_found_by_its_head_file, |db| {
    a_chain_deleted_whole_is_found_by_its_head_file(&db).await;
});
crate::dbtest!(a_row_forged_above_the_watermark_is_found, |db| {
    a_row_forged_above_the_watermark_is_found(&db).await;
});
crate::dbtest!(a_watermark_stuck_on_a_forged_row_is_unhealthy, |db| {
    a_watermark_stuck_on_a_forged_row_is_unhealthy(&db).await;
});
