//! `users enable|delete`, `keys rotate --grace` and key states, on both
//! backends: what the CLI says, what the authenticator then decides.

use std::time::Duration;

use tokctl::identity::{AuthError, Authenticator};

use super::{json, ledger_row, tokctl_on};
use crate::identity::SHORT_TTL;

/// The `keys list --format json` object of the key with this prefix.
fn listed(keys: &serde_json::Value, prefix: &str) -> serde_json::Value {
    keys.as_array()
        .and_then(|a| a.iter().find(|k| k["display_prefix"] == prefix))
        .cloned()
        .unwrap_or_else(|| panic!("no key {prefix} in {keys}"))
}

fn prefix(key: &str) -> &str {
    &key[..tokctl::identity::keys::DISPLAY_PREFIX_CHARS]
}

dbtest!(users_enable_and_delete, |t| {
    let run = tokctl_on(&t);
    run.run(&["users", "create", "alice"]).expect_code(0);
    run.run(&["users", "create", "bob"]).expect_code(0);
    let key = run.run(&["keys", "create", "--user", "alice"]);
    key.expect_code(0);
    let key = key.stdout.trim().to_string();

    run.run(&["users", "disable", "alice"]).expect_code(0);
    let db = t.connect().await;
    let auth = Authenticator::new(db.clone(), SHORT_TTL);
    assert!(matches!(
        auth.authenticate(&key).await,
        Err(AuthError::Disabled { .. })
    ));
    run.run(&["users", "enable", "alice"]).expect_code(0);
    run.run(&["users", "enable", "nobody"]).expect_code(1);
    tokio::time::sleep(SHORT_TTL + Duration::from_millis(100)).await;
    assert!(auth.authenticate(&key).await.is_ok(), "enabled again");
    let users = json(
        run.run(&["users", "list", "--format", "json"])
            .expect_code(0),
    );
    let alice = users
        .as_array()
        .and_then(|a| a.iter().find(|u| u["name"] == "alice"))
        .cloned()
        .expect("alice listed");
    assert_eq!(alice["disabled"], false, "{users}");
    let alice_id = alice["id"].as_i64().expect("an id");

    // Bob has no ledger rows: deleted at once. Alice has one: refused.
    run.run(&["users", "delete", "bob"]).expect_code(0);
    let keys = json(run.run(&["keys", "list", "--json"]).expect_code(0));
    let key_id = listed(&keys, prefix(&key))["id"].as_i64().expect("key id");
    ledger_row(&t, "req-alice-1", alice_id, "alice", key_id).await;
    let refused = run.run(&["users", "delete", "alice"]);
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("1 ledger row") && refused.stderr.contains("--keep-ledger"),
        "{}",
        refused.stderr
    );
    let kept = run.run(&["users", "delete", "alice", "--keep-ledger"]);
    kept.expect_code(0);
    assert!(
        kept.stderr.contains("1 ledger row(s) kept"),
        "{}",
        kept.stderr
    );
    let users = json(run.run(&["users", "list", "--json"]).expect_code(0));
    assert_eq!(users.as_array().map(Vec::len), Some(0), "{users}");
    assert_eq!(
        t.scalar(&format!(
            "SELECT count(*) FROM usage_entries WHERE user_id = {alice_id}"
        ))
        .await,
        1,
        "the ledger row keeps the id"
    );
    tokio::time::sleep(SHORT_TTL + Duration::from_millis(100)).await;
    assert!(
        matches!(auth.authenticate(&key).await, Err(AuthError::Invalid)),
        "a deleted user's key no longer exists"
    );
    // A new user never takes the deleted one's id.
    run.run(&["users", "create", "alice"]).expect_code(0);
    let users = json(run.run(&["users", "list", "--json"]).expect_code(0));
    assert!(users[0]["id"].as_i64() > Some(alice_id), "{users}");
    run.run(&["users", "delete", "nobody"]).expect_code(1);
    db.close().await;
});

dbtest!(keys_rotate_with_grace_and_states, |t| {
    let run = tokctl_on(&t);
    run.run(&["users", "create", "alice"]).expect_code(0);
    let old = run.run(&[
        "keys", "create", "--user", "alice", "--name", "ci", "--rps", "3",
    ]);
    old.expect_code(0);
    let old = old.stdout.trim().to_string();

    let rotated = run.run(&["keys", "rotate", prefix(&old), "--grace", "1h"]);
    rotated.expect_code(0);
    let new = rotated.stdout.trim().to_string();
    assert!(new.starts_with("tok_") && new != old, "{}", rotated.stdout);
    assert!(!rotated.stderr.contains(&new), "the key is printed once");

    let keys = json(
        run.run(&["keys", "list", "--format", "json"])
            .expect_code(0),
    );
    let o = listed(&keys, prefix(&old));
    let n = listed(&keys, prefix(&new));
    assert_eq!(o["state"], "revoking", "{keys}");
    assert_eq!(
        (n["state"].as_str(), n["name"].as_str()),
        (Some("active"), Some("ci"))
    );
    assert_eq!(n["rps"], 3.0, "limits carried over: {keys}");
    let grace = o["revoked_at_us"].as_i64().expect("a revocation time") - tokctl::db::now_us();
    assert!(
        (3_500_000_000..=3_600_000_000).contains(&grace),
        "revoked about an hour from now: {grace} us"
    );

    let db = t.connect().await;
    let auth = Authenticator::new(db.clone(), SHORT_TTL);
    assert!(
        auth.authenticate(&old).await.is_ok(),
        "within the grace period"
    );
    assert!(auth.authenticate(&new).await.is_ok());

    // Without a grace period the old key stops at once; a revoked key cannot rotate.
    let newer = run.run(&["keys", "rotate", prefix(&new)]);
    newer.expect_code(0);
    tokio::time::sleep(SHORT_TTL + Duration::from_millis(100)).await;
    assert!(matches!(
        auth.authenticate(&new).await,
        Err(AuthError::Revoked { .. })
    ));
    let again = run.run(&["keys", "rotate", prefix(&new)]);
    again.expect_code(1);
    assert!(again.stderr.contains("already revoked"), "{}", again.stderr);
    run.run(&["keys", "rotate", "tok_nothere00"]).expect_code(1);
    run.run(&["keys", "rotate", prefix(&old), "--grace", "soon"])
        .expect_code(2);

    // An expired key is marked as such.
    let short = run.run(&["keys", "create", "--user", "alice", "--expires", "1s"]);
    short.expect_code(0);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let keys = json(run.run(&["keys", "list", "--json"]).expect_code(0));
    assert_eq!(
        listed(&keys, prefix(short.stdout.trim()))["state"],
        "expired"
    );
    let table = run.run(&["keys", "list"]);
    table.expect_code(0);
    for state in ["expired", "revoked", "revoking", "active"] {
        assert!(table.stdout.contains(state), "{state}:\n{}", table.stdout);
    }
    // Usable keys: the newest rotation only (the old one is still in its grace period too).
    let users = json(run.run(&["users", "list", "--json"]).expect_code(0));
    assert_eq!(users[0]["active_keys"], 2, "{users}");
    db.close().await;
});

/// With the ledger in a database of its own, `users delete` counts the
/// user's rows there, and refuses a ledger path where there is none.
#[tokio::test]
async fn delete_counts_rows_in_a_separate_ledger() {
    let identity = crate::support::TestDb::sqlite();
    let ledger = crate::support::TestDb::sqlite();
    let run = crate::support::Tokctl::new()
        .env("TOKCTL_IDENTITY_PATH", &identity.dsn)
        .env("TOKCTL_LEDGER_PATH", &ledger.dsn);
    run.run(&["migrate"]).expect_code(0);
    run.run(&["users", "create", "carol"]).expect_code(0);
    let users = json(run.run(&["users", "list", "--json"]).expect_code(0));
    let id = users[0]["id"].as_i64().expect("an id");
    ledger_row(&ledger, "req-carol", id, "carol", 1).await;
    let out = run.run(&["users", "delete", "carol"]);
    out.expect_code(1);
    assert!(out.stderr.contains("1 ledger row"), "{}", out.stderr);

    let missing = crate::support::Tokctl::new()
        .env("TOKCTL_IDENTITY_PATH", &identity.dsn)
        .env("TOKCTL_LEDGER_PATH", "/nonexistent/ledger.db");
    let out = missing.run(&["users", "delete", "carol", "--keep-ledger"]);
    out.expect_code(2);
    assert!(out.stderr.contains("no ledger at"), "{}", out.stderr);
    run.run(&["users", "delete", "carol", "--keep-ledger"])
        .expect_code(0);
}
