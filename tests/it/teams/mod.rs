//! Teams and model access (#34) through the real binary: `tokctl teams`
//! CRUD, `users update --team`, `--models` on keys, users and teams and
//! their bad input, on SQLite and PostgreSQL. The gateway's side (the
//! allow-lists enforced, `/v1/models` filtered, entries carrying the team,
//! `ledger summary --by team`, `ledger export --team`) is in [`gateway`].

mod budgets;
mod gateway;

use serde_json::Value;

use crate::support::{TestDb, Tokctl};

/// A run whose identity and ledger database is `t`.
fn tokctl_on(t: &TestDb) -> Tokctl {
    Tokctl::new()
        .env("TOKCTL_LEDGER_PATH", &t.dsn)
        .env("TOKCTL_IDENTITY_PATH", &t.dsn)
}

fn json(run: &Tokctl, args: &[&str]) -> Value {
    let out = run.run(args);
    out.expect_code(0);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// The user named `name` in `users list --json`.
fn user(run: &Tokctl, name: &str) -> Value {
    let users = json(run, &["users", "list", "--json"]);
    users
        .as_array()
        .and_then(|a| a.iter().find(|u| u["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no user {name} in {users}"))
}

dbtest!(cli_teams_crud_and_membership, |t| {
    let run = tokctl_on(&t);
    let made = run.run(&["teams", "create", "ml", "--models", "gpt-*"]);
    made.expect_code(0);
    assert!(made.stderr.contains("created team `ml`"), "{}", made.stderr);
    let dup = run.run(&["teams", "create", "ml"]);
    dup.expect_code(1);
    assert!(
        dup.stderr.contains("team `ml` already exists"),
        "{}",
        dup.stderr
    );
    run.run(&["teams", "create", "a b"]).expect_code(2);

    let teams = json(&run, &["teams", "list", "--json"]);
    assert_eq!(teams[0]["name"], "ml");
    assert_eq!(teams[0]["models"], "gpt-*");
    assert_eq!(teams[0]["members"], 0);

    run.run(&["users", "create", "alice"]).expect_code(0);
    run.run(&["users", "create", "bob", "--team", "ml"])
        .expect_code(0);
    run.run(&["users", "update", "alice", "--team", "ml"])
        .expect_code(0);
    let shown = json(&run, &["teams", "show", "ml", "--json"]);
    assert_eq!(shown["member_names"], serde_json::json!(["alice", "bob"]));
    assert_eq!(shown["members"], 2);
    assert_eq!(user(&run, "alice")["team"], "ml");
    let table = run.run(&["teams", "show", "ml"]);
    table.expect_code(0);
    assert!(
        table.stdout.contains("alice") && table.stdout.contains("gpt-*"),
        "{}",
        table.stdout
    );

    // An unknown team is an error naming it, and changes nothing.
    let unknown = run.run(&["users", "update", "alice", "--team", "nope"]);
    unknown.expect_code(1);
    assert!(
        unknown.stderr.contains("no team named `nope`"),
        "{}",
        unknown.stderr
    );
    assert_eq!(user(&run, "alice")["team"], "ml");
    let unknown = run.run(&["users", "create", "carol", "--team", "nope"]);
    unknown.expect_code(1);
    assert!(
        json(&run, &["users", "list", "--json"])
            .as_array()
            .is_some_and(|u| u.len() == 2)
    );
    run.run(&["users", "update", "alice"]).expect_code(2);
    run.run(&["users", "update", "nobody", "--no-team"])
        .expect_code(1);

    // Out of the team, two ways.
    run.run(&["users", "update", "alice", "--team", ""])
        .expect_code(0);
    assert_eq!(user(&run, "alice")["team"], Value::Null);
    run.run(&["users", "update", "alice", "--team", "ml"])
        .expect_code(0);
    run.run(&["users", "update", "alice", "--no-team"])
        .expect_code(0);
    assert_eq!(user(&run, "alice")["team"], Value::Null);

    // Rename (members follow), clear the list, duplicate names refused.
    run.run(&["teams", "create", "ops"]).expect_code(0);
    run.run(&["teams", "update", "ops"]).expect_code(2);
    let taken = run.run(&["teams", "update", "ml", "--rename", "ops"]);
    taken.expect_code(1);
    assert!(
        taken.stderr.contains("team `ops` already exists"),
        "{}",
        taken.stderr
    );
    run.run(&[
        "teams", "update", "ml", "--rename", "research", "--models", "",
    ])
    .expect_code(0);
    assert_eq!(user(&run, "bob")["team"], "research");
    let shown = json(&run, &["teams", "show", "research", "--json"]);
    assert_eq!(shown["models"], Value::Null);
    run.run(&["teams", "show", "ml"]).expect_code(1);

    // Delete: refused with members (named), --force detaches them.
    let refused = run.run(&["teams", "delete", "research"]);
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("1 member(s) (bob)") && refused.stderr.contains("--force"),
        "{}",
        refused.stderr
    );
    run.run(&["teams", "delete", "research", "--force"])
        .expect_code(0);
    assert_eq!(user(&run, "bob")["team"], Value::Null);
    run.run(&["teams", "delete", "ops"]).expect_code(0);
    run.run(&["teams", "delete", "ops"]).expect_code(1);
    assert_eq!(
        json(&run, &["teams", "list", "--json"]),
        serde_json::json!([])
    );
});

dbtest!(cli_model_lists_are_checked_and_stored, |t| {
    let run = tokctl_on(&t);
    run.run(&["users", "create", "alice", "--models", "claude-*, gpt-4o"])
        .expect_code(0);
    assert_eq!(user(&run, "alice")["models"], "claude-*,gpt-4o");
    // Bad globs are usage errors naming the list; nothing is created.
    for bad in ["a,,b", "gpt-[34]o"] {
        let out = run.run(&["teams", "create", "x", "--models", bad]);
        out.expect_code(2);
        assert!(out.stderr.contains(bad), "{}", out.stderr);
    }
    run.run(&["teams", "show", "x"]).expect_code(1);
    // A glob matching no configured model is a warning, and kept.
    let typo = run.run(&[
        "keys",
        "create",
        "--user",
        "alice",
        "--models",
        "gtp-*,gpt-4o",
    ]);
    typo.expect_code(0);
    assert!(
        typo.stderr
            .contains("warning: --models `gtp-*` matches no configured model"),
        "{}",
        typo.stderr
    );
    assert!(
        !typo.stderr.contains("`gpt-4o` matches no"),
        "{}",
        typo.stderr
    );
    let keys = json(&run, &["keys", "list", "--json"]);
    assert_eq!(keys[0]["models"], "gtp-*,gpt-4o");
    let id = keys[0]["id"].to_string();
    run.run(&["keys", "update", &id, "--models", "gpt-*"])
        .expect_code(0);
    assert_eq!(
        json(&run, &["keys", "list", "--json"])[0]["models"],
        "gpt-*"
    );
    run.run(&["keys", "update", &id, "--models", ""])
        .expect_code(0);
    assert_eq!(
        json(&run, &["keys", "list", "--json"])[0]["models"],
        Value::Null
    );
    run.run(&["keys", "update", &id]).expect_code(2);
    run.run(&["users", "update", "alice", "--models", ""])
        .expect_code(0);
    assert_eq!(user(&run, "alice")["models"], Value::Null);
});
