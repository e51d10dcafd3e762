//! A rolling upgrade with the real previous release (`TOKCTL_PREV_BIN`,
//! built by scripts/test.sh from the commit scripts/prev-binary.sh names):
//! an instance on binary N−1 and one on binary N share one database, the
//! old one restarts on the newer schema (a rollback, or a replica not yet
//! upgraded), a spool written by N−1 is replayed by N, and every chain —
//! message v1 rows and v2 rows, in one chain — verifies; editing a column
//! of message v2 is found, on a v2 row and on a v1 row alike.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::chain::{complete, verify};
use super::harness::Gateway;
use super::serving::hold_ledger_lock;
use crate::support::TestDb;

/// The previous release's binary. Never skipped: without it the test
/// fails and says how to get it.
fn prev_bin() -> PathBuf {
    let path = std::env::var_os("TOKCTL_PREV_BIN").map(PathBuf::from);
    match path {
        Some(p) if p.is_file() => p,
        _ => panic!(
            "TOKCTL_PREV_BIN must name the previous release's tokctl binary: \
             `bash scripts/prev-binary.sh` builds it and prints its path \
             (scripts/test.sh does this)"
        ),
    }
}

/// `n` completions through `gw`; their request ids.
async fn load(gw: &Gateway, key: &str, n: usize) -> HashSet<String> {
    let client = reqwest::Client::new();
    let url = gw.url("/v1/chat/completions");
    let mut ids = HashSet::new();
    for _ in 0..n {
        let id = complete(&client, &url, key)
            .await
            .expect("a 200 through the gateway");
        ids.insert(id);
    }
    ids
}

/// Waits until every id in `want` is stored; all stored ids.
async fn stored(dsn: &str, want: &HashSet<String>) -> HashSet<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = super::ledger_rows::rows(dsn).await;
        let ids: HashSet<String> = rows.into_iter().map(|r| r.request_id).collect();
        if want.is_subset(&ids) || Instant::now() > deadline {
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn old_and_new_binaries_share_one_ledger(db: &TestDb) {
    let prev = prev_bin();
    let extra = "[ledger.async]\nflush_ms = 100\n";
    // Several instances share a PostgreSQL ledger; a SQLite file is one
    // instance's, so there the binaries take turns on it.
    let concurrent = db.backend == crate::support::Backend::Postgres;
    // N−1 alone: it creates the schema of its time (migrations 1–5).
    let old = Gateway::start_program(
        &prev,
        tempfile::tempdir().expect("dir"),
        &db.dsn,
        extra,
        &[],
    );
    let key = old.key.clone().expect("bootstrap key");
    let mut sent = load(&old, &key, 5).await;
    let old = if concurrent {
        Some(old)
    } else {
        drop(old.stop_keep_dir());
        None
    };
    // N beside it: migration 6 (compatible) is applied while N−1 serves.
    let new = Gateway::start(&db.dsn, extra);
    sent.extend(load(&new, &key, 5).await);
    assert_eq!(
        db.scalar("SELECT count(*) FROM tokctl_migrations WHERE version = 6 AND compatible")
            .await,
        1
    );
    let (new, new_dir) = if concurrent {
        (Some(new), None)
    } else {
        (None, Some(new.stop_keep_dir()))
    };
    // N−1 (re)starts on schema N (a rollback, a replica not yet upgraded):
    // it starts and writes.
    let old = match old {
        Some(old) => {
            sent.extend(load(&old, &key, 5).await);
            let dir = old.stop_keep_dir();
            Gateway::start_program(&prev, dir, &db.dsn, extra, &[])
        }
        None => {
            let old = Gateway::start_program(
                &prev,
                tempfile::tempdir().expect("dir"),
                &db.dsn,
                extra,
                &[],
            );
            sent.extend(load(&old, &key, 5).await);
            old
        }
    };
    sent.extend(load(&old, &key, 5).await);
    // N−1 spools entries the database cannot take yet, and dies.
    let release = hold_ledger_lock(db).await;
    let spooled = load(&old, &key, 5).await;
    let dir = old.kill9();
    drop(release);
    // The lock's holder commits on this test's runtime: let it run.
    tokio::time::sleep(Duration::from_secs(1)).await;
    sent.extend(spooled.iter().cloned());
    // N starts in N−1's directory: same chain, N−1's spool replayed.
    let upgraded = Gateway::start_in(dir, &db.dsn, extra, &[]);
    sent.extend(load(&upgraded, &key, 5).await);
    let ids = stored(&db.dsn, &sent).await;
    let missing: Vec<_> = sent.difference(&ids).collect();
    assert!(missing.is_empty(), "entries lost: {missing:?}");
    assert_eq!(ids.len(), sent.len(), "one row per request, none extra");
    // v1 rows (N−1's: NULL as it wrote them, 1 where N replayed its spool)
    // and v2 rows (N's).
    let v1 = db
        .scalar(
            "SELECT count(*) FROM usage_entries WHERE seq IS NOT NULL \
             AND COALESCE(chain_version, 1) = 1",
        )
        .await;
    let v2 = db
        .scalar("SELECT count(*) FROM usage_entries WHERE chain_version = 2")
        .await;
    assert_eq!((v1, v2), (20, 10), "N−1 wrote 20 rows, N 10");
    assert_eq!(
        db.scalar(
            "SELECT count(*) FROM usage_entries WHERE chain_version = 2 AND upstream_api = 'chat'"
        )
        .await,
        10,
        "N fills upstream_api"
    );
    let new_dir = match (new, new_dir) {
        (Some(new), _) => new.stop_keep_dir(),
        (None, Some(dir)) => dir,
        (None, None) => unreachable!("N ran or stopped"),
    };
    let upgraded_dir = upgraded.stop_keep_dir();
    let (code, j) = verify(new_dir.path());
    assert_eq!(code, 0, "both chains verify: {j}");
    let chains = if concurrent { 2 } else { 3 };
    assert_eq!(j["chains"].as_array().map(Vec::len), Some(chains), "{j}");
    // A v2 column edited on a v2 row, then on a v1 row: each is found.
    for (which, edit, undo) in [
        (
            "v2 row",
            "UPDATE usage_entries SET team_id = 7 WHERE id = \
             (SELECT min(id) FROM usage_entries WHERE chain_version = 2)",
            "UPDATE usage_entries SET team_id = NULL WHERE team_id = 7",
        ),
        (
            "v1 row",
            "UPDATE usage_entries SET cache = 'hit' WHERE id = \
             (SELECT min(id) FROM usage_entries WHERE chain_version IS NULL AND seq IS NOT NULL)",
            "UPDATE usage_entries SET cache = 'none' WHERE cache = 'hit'",
        ),
    ] {
        assert_eq!(db.execute(edit).await, 1, "{which}: one row to edit");
        let (code, j) = verify(upgraded_dir.path());
        assert_eq!(code, 1, "{which}: the edit is found: {j}");
        assert!(j.to_string().contains("\"edited\""), "{which}: {j}");
        assert_eq!(db.execute(undo).await, 1);
        let (code, j) = verify(upgraded_dir.path());
        assert_eq!(code, 0, "{which}: undone, intact again: {j}");
    }
}

crate::dbtest!(old_and_new_binaries_share_one_ledger, |db| {
    old_and_new_binaries_share_one_ledger(&db).await;
});
