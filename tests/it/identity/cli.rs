//! `tokctl users` and `tokctl keys` through the real binary: the key alone
//! on stdout, never in listings, and the exit codes of the usual mistakes.

use tokctl::identity::{AuthError, Authenticator, keys::DISPLAY_PREFIX_CHARS};

use super::SHORT_TTL;
use crate::support::{TestDb, Tokctl};

/// A run whose identity (and ledger) database is `t`.
fn tokctl_on(t: &TestDb) -> Tokctl {
    Tokctl::new()
        .env("TOKCTL_LEDGER_PATH", &t.dsn)
        .env("TOKCTL_IDENTITY_PATH", &t.dsn)
}

dbtest!(cli_users_and_keys, |t| {
    let run = tokctl_on(&t);
    run.run(&["users", "create", "alice"]).expect_code(0);
    let dup = run.run(&["users", "create", "alice"]);
    dup.expect_code(1);
    assert!(
        dup.stderr.contains("`alice` already exists"),
        "{}",
        dup.stderr
    );

    let created = run.run(&[
        "keys",
        "create",
        "--user",
        "alice",
        "--name",
        "ci",
        "--expires",
        "30d",
    ]);
    created.expect_code(0);
    let key = created.stdout.strip_suffix('\n').unwrap_or(&created.stdout);
    assert!(
        key.starts_with("tok_"),
        "stdout is the key alone: {:?}",
        created.stdout
    );
    assert!(
        !key.contains(char::is_whitespace),
        "one line: {:?}",
        created.stdout
    );
    assert!(!created.stderr.contains(key), "the key is printed once");

    let list = run.run(&["keys", "list", "--user", "alice"]);
    list.expect_code(0);
    assert!(
        list.stdout.contains(&key[..DISPLAY_PREFIX_CHARS]),
        "{}",
        list.stdout
    );
    assert!(!list.stdout.contains(key), "keys list never shows a key");

    let users = run.run(&["users", "list"]);
    users.expect_code(0);
    assert!(users.stdout.contains("alice"), "{}", users.stdout);

    let unknown = run.run(&["keys", "create", "--user", "bob"]);
    unknown.expect_code(1);
    assert!(
        unknown.stderr.contains("no user named `bob`"),
        "{}",
        unknown.stderr
    );
    assert!(unknown.stdout.is_empty());

    let bad = run.run(&["keys", "create", "--user", "alice", "--expires", "someday"]);
    bad.expect_code(2);
    assert!(bad.stderr.contains("someday"), "{}", bad.stderr);
    run.run(&["keys", "create", "--user", "alice", "--rps", "0"])
        .expect_code(2);

    run.run(&["keys", "revoke", &key[..DISPLAY_PREFIX_CHARS]])
        .expect_code(0);
    run.run(&["keys", "revoke", "tok_nothere00"]).expect_code(1);
    run.run(&["users", "disable", "alice"]).expect_code(0);
    run.run(&["users", "disable", "nobody"]).expect_code(1);

    let db = t.connect().await;
    let auth = Authenticator::new(db.clone(), SHORT_TTL);
    assert!(matches!(
        auth.authenticate(key).await,
        Err(AuthError::Revoked { .. })
    ));
    db.close().await;
});
