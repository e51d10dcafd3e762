//! `spend_rollups` (migration 0008): the database adds every inserted
//! entry's cost to its key's, user's and team's hour in the insert's own
//! transaction — through the store's bulk paths (COPY, multi-row inserts),
//! the duplicate-skipping path and the gateway's writer — and a window's
//! spend is read back from them, on SQLite and PostgreSQL.

use std::time::Duration;

use serde_json::json;
use tokctl::budget::Scope;
use tokctl::ledger::{self, rollups};

use super::{entry, migrated};
use crate::gateway::harness::Gateway;
use crate::support::TestDb;

const HOUR: i64 = rollups::HOUR_US;
/// 2026-12-07T10:00:00Z, on the hour.
const T0: i64 = 1_796_637_600_000_000;

/// Sums of the rollups against sums of the entries, per scope and id.
async fn agree(db: &TestDb) {
    for (code, column) in [(1, "api_key_id"), (2, "user_id"), (3, "team_id")] {
        let from_rollups = db
            .scalar(&format!(
                "SELECT CAST(COALESCE(SUM(cost_nano * scope_id), 0) AS BIGINT) FROM spend_rollups WHERE scope = {code}"
            ))
            .await;
        let from_entries = db
            .scalar(&format!(
                "SELECT CAST(COALESCE(SUM(cost_nano * {column}), 0) AS BIGINT) FROM usage_entries WHERE {column} IS NOT NULL"
            ))
            .await;
        assert_eq!(from_rollups, from_entries, "scope {code} ({column})");
        let n_rollups = db
            .scalar(&format!(
                "SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM spend_rollups WHERE scope = {code}"
            ))
            .await;
        let n_entries = db
            .scalar(&format!(
                "SELECT COUNT(*) FROM usage_entries WHERE {column} IS NOT NULL"
            ))
            .await;
        assert_eq!(n_rollups, n_entries, "scope {code} ({column}) requests");
    }
}

dbtest!(rollups_follow_inserts_and_skip_duplicates, |db| {
    let conn = migrated(&db).await;
    // Key 7 of user 3 in team 2, over two hours and a half; user 4 has no team.
    let batch: Vec<_> = (0..300)
        .map(|i| {
            let mut e = entry(&format!("roll-{i:04}"));
            e.created_at_us = T0 + i * (HOUR / 120);
            e.cost_nano = 1_000 + i;
            e.api_key_id = Some(7);
            e.user_id = Some(if i % 3 == 0 { 4 } else { 3 });
            e.team_id = (i % 3 != 0).then_some(2);
            e
        })
        .collect();
    assert_eq!(ledger::insert_batch(&conn, &batch).await.unwrap(), 300);
    agree(&db).await;
    // A replay: half already stored (skipped, so not counted again), half new.
    let mut replay: Vec<_> = batch[150..].to_vec();
    replay.extend((300..450).map(|i| {
        let mut e = entry(&format!("roll-{i:04}"));
        e.created_at_us = T0 + i * (HOUR / 120);
        e.cost_nano = 5;
        e.api_key_id = Some(7);
        e
    }));
    assert_eq!(ledger::insert_batch(&conn, &replay).await.unwrap(), 150);
    agree(&db).await;

    let all: i64 = (0..300).map(|i| 1_000 + i).sum::<i64>() + 150 * 5;
    let key = rollups::spent_since(&conn, Scope::Key, 7, T0)
        .await
        .unwrap();
    assert_eq!(key, (all, 450), "whole hours only");
    // From 10:30: the rest of the first hour from the entries, then the rollups.
    let since = T0 + HOUR / 2;
    let expect: i64 = (60..300).map(|i| 1_000 + i).sum::<i64>() + 150 * 5;
    let key = rollups::spent_since(&conn, Scope::Key, 7, since)
        .await
        .unwrap();
    assert_eq!(key, (expect, 390));
    let team = rollups::spent_since(&conn, Scope::Team, 2, since)
        .await
        .unwrap();
    let expect: i64 = (60..300).filter(|i| i % 3 != 0).map(|i| 1_000 + i).sum();
    assert_eq!(team, (expect, 160));
    assert_eq!(
        rollups::spent_since(&conn, Scope::Team, 9, T0)
            .await
            .unwrap(),
        (0, 0)
    );
});

dbtest!(the_gateways_writer_keeps_the_rollups, |db| {
    let config = "[[models]]\nname = \"gpt-4o-mini\"\nprovider = \"mock\"\n\
                  input_per_mtok = 0.15\noutput_per_mtok = 0.6\n";
    let gw = Gateway::start(&db.dsn, config);
    let key = gw.key.clone().expect("bootstrap key");
    let c = reqwest::Client::new();
    for n in 0..20 {
        let words = "hello ".repeat(1 + 10 * n);
        let body =
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": words}]});
        let r = c
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200);
        r.bytes().await.expect("body");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while db.scalar("SELECT COUNT(*) FROM usage_entries").await < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "entries never written"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    agree(&db).await;
    let billed = db
        .scalar("SELECT CAST(SUM(cost_nano) AS BIGINT) FROM usage_entries")
        .await;
    assert!(billed > 0, "the priced model billed nothing");
    let rolled = db
        .scalar("SELECT CAST(SUM(cost_nano) AS BIGINT) FROM spend_rollups WHERE scope = 2")
        .await;
    assert_eq!(rolled, billed, "the user's rollups hold the whole spend");
});
