//! The ledger store on real databases: every field round-trips, inserts are
//! idempotent on `request_id`, and 10,000 entries go in one call, on SQLite
//! and PostgreSQL. The writer's tests are in [`writer`].

mod rollups;
mod writer;

use tokctl::db::{Db, Dsn, migrate};
use tokctl::ledger::{self, Entry, TokenSource, Usage};

use crate::support::TestDb;

/// Connects to a fresh test database and applies the migrations.
pub(crate) async fn migrated(db: &TestDb) -> Db {
    let conn = db.connect().await;
    let dsn = Dsn::parse(&db.dsn).expect("a test DSN parses");
    migrate::apply(&conn, &dsn, &|| {})
        .await
        .expect("migrating the test database");
    conn
}

/// A plain successful entry.
pub(crate) fn entry(request_id: &str) -> Entry {
    Entry {
        request_id: request_id.to_string(),
        created_at_us: 1_700_000_000_000_000,
        client_request_id: None,
        upstream_request_id: None,
        user_id: Some(1),
        user_name: None,
        api_key_id: None,
        endpoint: "/v1/chat/completions".into(),
        model: "gpt-4o-mini".into(),
        provider: "mock".into(),
        upstream_model: None,
        usage: Usage::default(),
        token_source: TokenSource::Provider,
        cost_nano: 0,
        latency_us: 1_000,
        upstream_latency_us: None,
        ttft_us: None,
        overhead_us: None,
        status_code: 200,
        streamed: false,
        error_kind: None,
        error_message: None,
        chain: None,
        ..Default::default()
    }
}

/// `n` entries named `{prefix}-{i}`.
pub(crate) fn entries(prefix: &str, n: usize) -> Vec<Entry> {
    (0..n).map(|i| entry(&format!("{prefix}-{i:06}"))).collect()
}

/// An entry with every optional field set and distinct values everywhere.
fn full_entry() -> Entry {
    Entry {
        request_id: "0190f3c2-full".into(),
        created_at_us: 1_732_000_000_123_456,
        client_request_id: Some("client-ü-✓".into()),
        upstream_request_id: Some("chatcmpl-abc".into()),
        user_id: Some(42),
        user_name: Some("alice's \"team\"".into()),
        api_key_id: Some(7),
        endpoint: "/v1/messages".into(),
        model: "claude-sonnet-4".into(),
        provider: "anthropic".into(),
        upstream_model: Some("claude-sonnet-4-20250514".into()),
        usage: Usage {
            input_tokens: 1_234,
            cached_input_tokens: 567,
            cache_write_tokens: 89,
            output_tokens: 4_321,
            reasoning_tokens: 1_000,
        },
        token_source: TokenSource::Partial,
        cost_nano: 9_876_543_210_123,
        latency_us: i64::MAX,
        upstream_latency_us: Some(123_456),
        ttft_us: Some(7_890),
        overhead_us: Some(-5),
        status_code: 499,
        streamed: true,
        error_kind: Some("client_closed".into()),
        error_message: Some("the client went away; line\nbreak".into()),
        chain: None,
        ..Default::default()
    }
}

dbtest!(insert_batch_round_trips_every_field, |db| {
    let conn = migrated(&db).await;
    let full = full_entry();
    let mut bare = entry("0190f3c2-bare");
    bare.user_id = None;
    bare.token_source = TokenSource::None;
    // Every column, the chain's included (PostgreSQL copies these in its
    // binary format: each value must arrive as the column's own type).
    let mut linked = full_entry();
    linked.request_id = "0190f3c2-linked".into();
    linked.chain = Some(tokctl::ledger::chain::Link {
        instance_id: "gw-1".into(),
        seq: 9_007_199_254_740_993,
        prev_hash: [0xa5; 32],
        hash: std::array::from_fn(|i| i as u8),
        version: 2,
    });
    // Enough rows behind them that SQLite binds these three in a statement
    // of several rows (its writer steps 128 at a time), each at its offset.
    let mut batch = vec![full.clone(), bare.clone(), linked.clone()];
    batch.extend(entries("filler", 130));
    assert_eq!(ledger::insert_batch(&conn, &batch).await.unwrap(), 133);
    assert_eq!(
        ledger::get(&conn, &full.request_id).await.unwrap(),
        Some(full)
    );
    assert_eq!(
        ledger::get(&conn, &linked.request_id).await.unwrap(),
        Some(linked)
    );
    assert_eq!(
        ledger::get(&conn, &bare.request_id).await.unwrap(),
        Some(bare)
    );
    assert_eq!(ledger::get(&conn, "missing").await.unwrap(), None);
    for t in [TokenSource::Provider, TokenSource::Estimated] {
        let mut e = entry(&format!("ts-{}", t.as_str()));
        e.token_source = t;
        ledger::insert_batch(&conn, std::slice::from_ref(&e))
            .await
            .unwrap();
        assert_eq!(ledger::get(&conn, &e.request_id).await.unwrap(), Some(e));
    }
});

/// The SQLite writer's connection does not checkpoint its WAL itself; its
/// checkpoint thread copies committed pages back into the database file
/// while the connections stay open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_is_checkpointed_beside_the_writer() {
    let db = TestDb::sqlite();
    let conn = migrated(&db).await;
    let path = db.sqlite_path().expect("a SQLite file");
    let size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let before = size();
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut cfg = tokctl::config::LedgerConfig::default();
    cfg.spool.enabled = false;
    cfg.async_writer.batch_size = 500;
    cfg.dead_letter_path = dir
        .path()
        .join("dead-letter.jsonl")
        .to_string_lossy()
        .into();
    cfg.chain.instance_id_path = dir.path().join("instance-id").to_string_lossy().into();
    cfg.chain.head_file = dir.path().join("head.json").to_string_lossy().into();
    let writer = ledger::LedgerWriter::start(conn.clone(), &cfg)
        .await
        .expect("start the writer");
    for e in entries("ckpt", 2_000) {
        let admission = writer.admit().await.expect("admitted");
        let _ = writer.record(admission, e);
    }
    assert!(
        writer
            .wait_caught_up(std::time::Duration::from_secs(10))
            .await
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while size() <= before + 100 * 1024 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        size() > before + 100 * 1024,
        "the database file stayed at {} bytes (from {before}): the WAL was not checkpointed",
        size()
    );
    assert_eq!(writer.shutdown().await.written, 2_000);
    assert_eq!(ledger::count(&conn).await.unwrap(), 2_000);
}

/// A chain long enough that `ledger verify` reads a SQLite file in several
/// slices on two connections (`CHECK_SLICE` is 4,096 entries: 10,000 give
/// slices ending at 3,333 and 6,666). Clean, it checks every entry; an edit
/// on either side of a slice boundary, and a deletion of a slice's first
/// entry, are each found at the right number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_chain_read_in_slices_verifies_and_each_break_is_found() {
    let db = TestDb::sqlite();
    let conn = migrated(&db).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let head = dir.path().join("head.json").to_string_lossy().into_owned();
    let mut cfg = tokctl::config::LedgerConfig::default();
    cfg.spool.enabled = false;
    cfg.async_writer.batch_size = 1_000;
    cfg.chain.instance_id = "long".into();
    cfg.chain.hmac_key = "long-key".into();
    cfg.chain.head_file = head.clone();
    let writer = ledger::LedgerWriter::start(conn.clone(), &cfg)
        .await
        .expect("start the writer");
    for e in entries("long", 10_000) {
        let admission = writer.admit().await.expect("admitted");
        let _ = writer.record(admission, e);
    }
    assert_eq!(writer.shutdown().await.written, 10_000);
    let tokctl = crate::support::Tokctl::new().config(&format!(
        "[ledger]\npath = \"{}\"\n[ledger.chain]\nhmac_key = \"long-key\"\nhead_file = \"{head}\"\n",
        db.dsn
    ));
    let verify = || {
        let out = tokctl.run(&["ledger", "verify", "--json"]);
        let j: serde_json::Value =
            serde_json::from_str(&out.stdout).unwrap_or_else(|_| panic!("no JSON: {}", out.stderr));
        let b = &j["chains"][0]["first_break"];
        let first = (b["kind"].as_str().map(String::from), b["seq"].as_i64());
        (out.code, j["chains"][0]["entries_checked"].as_i64(), first)
    };
    assert_eq!(verify(), (0, Some(10_000), (None, None)));
    for seq in [3_333, 3_334, 6_667] {
        let edit = |d: i64| {
            format!(
                "UPDATE usage_entries SET output_tokens = output_tokens + {d} WHERE seq = {seq}"
            )
        };
        db.execute(&edit(1)).await;
        let (code, _, first) = verify();
        assert_eq!((code, first), (1, (Some("edited".into()), Some(seq))));
        db.execute(&edit(-1)).await;
    }
    assert_eq!(verify().0, 0, "the edits were undone");
    db.execute("DELETE FROM usage_entries WHERE seq = 3334")
        .await;
    let (code, checked, first) = verify();
    assert_eq!((code, first), (1, (Some("deleted".into()), Some(3_334))));
    assert_eq!(checked, Some(9_999));

    // A row outside every chain is found through the chain's index, and,
    // with that index dropped behind the gateway's back, by a plain scan.
    db.execute(
        "INSERT INTO usage_entries (request_id, created_at_us, endpoint, model, provider, \
         token_source, latency_us, status_code, streamed) VALUES ('forged', 9000000000000000, \
         '/v1/chat/completions', 'gpt-4o', 'mock', 'provider', 1, 200, FALSE)",
    )
    .await;
    for drop_index in [false, true] {
        if drop_index {
            db.execute("DROP INDEX usage_entries_chain").await;
        }
        let out = tokctl.run(&["ledger", "verify", "--json"]);
        let j: serde_json::Value =
            serde_json::from_str(&out.stdout).unwrap_or_else(|_| panic!("no JSON: {}", out.stderr));
        assert_eq!(out.code, 1, "{j}");
        assert_eq!(j["unchained_rows"], 1, "index dropped: {drop_index}: {j}");
        assert_eq!(j["first_unchained"], "forged", "{j}");
    }
}

dbtest!(insert_batch_is_idempotent_on_request_id, |db| {
    let conn = migrated(&db).await;
    let batch = entries("idem", 50);
    assert_eq!(ledger::insert_batch(&conn, &batch).await.unwrap(), 50);
    assert_eq!(ledger::insert_batch(&conn, &batch).await.unwrap(), 0);
    // A batch that overlaps the stored rows and repeats an id within itself.
    // The first repeat sits next to its twin inside one multi-row statement
    // of SQLite's writer (rows 128..256), the last one in its single-row tail.
    let mut mixed = entries("idem", 300);
    mixed.insert(152, entry("idem-000151"));
    mixed.push(entry("idem-000299"));
    assert_eq!(ledger::insert_batch(&conn, &mixed).await.unwrap(), 250);
    assert_eq!(ledger::count(&conn).await.unwrap(), 300);
    let ids = ledger::list_request_ids(&conn).await.unwrap();
    let want: Vec<String> = (0..300).map(|i| format!("idem-{i:06}")).collect();
    assert_eq!(ids, want);
    assert_eq!(ledger::insert_batch(&conn, &[]).await.unwrap(), 0);
});

dbtest!(insert_batch_takes_ten_thousand_entries_in_one_call, |db| {
    let conn = migrated(&db).await;
    let mut batch = entries("big", 10_000);
    for (i, e) in batch.iter_mut().enumerate() {
        e.cost_nano = i as i64;
        e.error_message = (i % 2 == 0).then(|| "x".repeat(2048));
    }
    assert_eq!(ledger::insert_batch(&conn, &batch).await.unwrap(), 10_000);
    assert_eq!(ledger::count(&conn).await.unwrap(), 10_000);
    let sum = db
        .scalar("SELECT CAST(sum(cost_nano) AS BIGINT) FROM usage_entries")
        .await;
    assert_eq!(sum, (0..10_000i64).sum::<i64>());
    assert_eq!(ledger::get(&conn, "big-009999").await.unwrap(), batch.pop());
    assert_eq!(
        ledger::get(&conn, "big-000001").await.unwrap().as_ref(),
        batch.get(1)
    );
});

// On PostgreSQL a batch goes plain first and, when it repeats a stored
// entry, fails whole and goes again with ON CONFLICT DO NOTHING: the commit
// must still write exactly the new rows, and the batches after it too.
dbtest!(
    commit_of_a_batch_that_repeats_stored_entries_writes_only_the_new_ones,
    |db| {
        let conn = migrated(&db).await;
        let first = entries("again", 30);
        let n = ledger::store::commit(&conn, &first, &[], None)
            .await
            .unwrap();
        assert_eq!(n, 30);
        let overlap = entries("again", 45);
        let n = ledger::store::commit(&conn, &overlap, &[], None)
            .await
            .unwrap();
        assert_eq!(n, 15);
        for round in 0..20 {
            let fresh = entries(&format!("after-{round}"), 5);
            let n = ledger::store::commit(&conn, &fresh, &[], None)
                .await
                .unwrap();
            assert_eq!(n, 5, "round {round}");
        }
        assert_eq!(ledger::count(&conn).await.unwrap(), 145);
        let ids = ledger::list_request_ids(&conn).await.unwrap();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "no request id stored twice");
    }
);
