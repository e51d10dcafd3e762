//! Budgets (#34) through the real binary and the library, on SQLite and
//! PostgreSQL: `--budget`, `--budget-window`, `--budget-soft` and
//! `--no-budget` on keys, users and teams, their listings, bad input
//! (exit 2 naming the flag), and what a key lookup then carries in
//! `Principal.budgets` — through the auth cache and the identity snapshot.

use std::time::Duration;

use serde_json::Value;
use tokctl::budget::{Budget, Scope, Window};
use tokctl::db::now_us;
use tokctl::identity::{Authenticator, Principal, snapshot};

use super::{json, tokctl_on, user};
use crate::support::{TestDb, Tokctl};

const NANO: i64 = 1_000_000_000;

fn key_json(run: &Tokctl, id: &str) -> Value {
    let keys = json(run, &["keys", "list", "--json"]);
    keys.as_array()
        .and_then(|a| {
            a.iter()
                .find(|k| k["id"].as_i64() == id.parse().ok())
                .cloned()
        })
        .unwrap_or_else(|| panic!("no key {id} in {keys}"))
}

fn team_json(run: &Tokctl, name: &str) -> Value {
    json(run, &["teams", "show", name, "--json"])
}

dbtest!(cli_budgets_are_set_listed_and_cleared, |t| {
    let run = tokctl_on(&t);
    // Anchors are whole seconds.
    let before = now_us() / 1_000_000 * 1_000_000;
    run.run(&[
        "teams",
        "create",
        "ml",
        "--budget",
        "1000",
        "--budget-soft",
        "75",
    ])
    .expect_code(0);
    let ml = team_json(&run, "ml");
    assert_eq!(ml["budget_nano"], 1000 * NANO);
    assert_eq!(ml["budget_window"], "monthly", "the default window");
    assert_eq!(ml["budget_soft_percent"], 75);
    let anchor = ml["budget_anchor_us"].as_i64().expect("an anchor");
    assert!(anchor >= before && anchor <= now_us(), "{anchor}");
    let shown = run.run(&["teams", "show", "ml"]);
    assert!(
        shown.stdout.contains("1000.00/monthly (soft 75%)"),
        "{}",
        shown.stdout
    );

    run.run(&[
        "users",
        "create",
        "alice",
        "--budget",
        "0.50",
        "--budget-window",
        "2w",
    ])
    .expect_code(0);
    assert_eq!(user(&run, "alice")["budget_nano"], NANO / 2);
    assert_eq!(user(&run, "alice")["budget_window"], "14d");
    let listed = run.run(&["users", "list"]);
    assert!(
        listed.stdout.contains("0.50/14d"),
        "the table shows it:\n{}",
        listed.stdout
    );

    let made = run.run(&[
        "keys",
        "create",
        "--user",
        "alice",
        "--budget",
        "12.345",
        "--budget-window",
        "daily",
    ]);
    made.expect_code(0);
    let id = json(&run, &["keys", "list", "--json"])[0]["id"].to_string();
    assert_eq!(key_json(&run, &id)["budget_nano"], 12_345_000_000i64);
    let table = run.run(&["keys", "list"]);
    assert!(table.stdout.contains("12.345/daily"), "{}", table.stdout);
    let csv = run.run(&["keys", "list", "--format", "csv"]);
    assert!(
        csv.stdout.lines().next().is_some_and(
            |h| h.ends_with("budget_nano,budget_window,budget_soft_percent,budget_anchor_us")
        ),
        "{}",
        csv.stdout
    );
    assert!(
        csv.stdout.contains(",12345000000,daily,,"),
        "{}",
        csv.stdout
    );

    // Update: the soft threshold alone keeps the window's anchor; a new
    // limit restarts it; --no-budget clears all four columns.
    let k0 = key_json(&run, &id);
    let upd = run.run(&["keys", "update", &id, "--budget-soft", "90"]);
    upd.expect_code(0);
    assert!(
        upd.stderr.contains("budget 12.345/daily (soft 90%)"),
        "{}",
        upd.stderr
    );
    let k1 = key_json(&run, &id);
    assert_eq!(k1["budget_anchor_us"], k0["budget_anchor_us"]);
    std::thread::sleep(Duration::from_millis(1_100));
    run.run(&["keys", "update", &id, "--budget", "20"])
        .expect_code(0);
    let k2 = key_json(&run, &id);
    assert_eq!(k2["budget_nano"], 20 * NANO);
    assert_eq!(k2["budget_window"], "daily");
    assert_eq!(k2["budget_soft_percent"], 90);
    assert!(k2["budget_anchor_us"].as_i64() > k0["budget_anchor_us"].as_i64());
    run.run(&["keys", "update", &id, "--no-budget"])
        .expect_code(0);
    for col in [
        "budget_nano",
        "budget_window",
        "budget_soft_percent",
        "budget_anchor_us",
    ] {
        assert_eq!(key_json(&run, &id)[col], Value::Null, "{col}");
    }
    // Changing the window of a key without a budget says what to do.
    let none = run.run(&["keys", "update", &id, "--budget-window", "weekly"]);
    none.expect_code(1);
    assert!(
        none.stderr.contains("has no budget to change") && none.stderr.contains("--budget AMOUNT"),
        "{}",
        none.stderr
    );

    run.run(&["users", "update", "alice", "--budget-window", "30d"])
        .expect_code(0);
    assert_eq!(user(&run, "alice")["budget_window"], "30d");
    assert_eq!(user(&run, "alice")["budget_nano"], NANO / 2);
    run.run(&["users", "update", "alice", "--no-budget"])
        .expect_code(0);
    assert_eq!(user(&run, "alice")["budget_nano"], Value::Null);
    // A refused budget change changes nothing else either.
    let refused = run.run(&[
        "users",
        "update",
        "alice",
        "--team",
        "ml",
        "--budget-soft",
        "50",
    ]);
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("user `alice` has no budget"),
        "{}",
        refused.stderr
    );
    assert_eq!(user(&run, "alice")["team"], Value::Null);
    run.run(&[
        "teams",
        "update",
        "ml",
        "--budget",
        "500",
        "--budget-window",
        "weekly",
        "--budget-soft",
        "",
    ])
    .expect_code(0);
    let ml = team_json(&run, "ml");
    assert_eq!(ml["budget_nano"], 500 * NANO);
    assert_eq!(ml["budget_window"], "weekly");
    assert_eq!(ml["budget_soft_percent"], Value::Null);
    let teams = run.run(&["teams", "list"]);
    assert!(teams.stdout.contains("500.00/weekly"), "{}", teams.stdout);
    run.run(&["teams", "update", "ml", "--no-budget"])
        .expect_code(0);
    assert_eq!(team_json(&run, "ml")["budget_nano"], Value::Null);
    run.run(&[
        "teams",
        "update",
        "ml",
        "--rename",
        "research",
        "--budget-window",
        "daily",
    ])
    .expect_code(1);
    team_json(&run, "ml");
    // --no-budget with a budget flag is refused by the parser.
    run.run(&["teams", "update", "ml", "--no-budget", "--budget", "5"])
        .expect_code(2);
});

dbtest!(cli_bad_budgets_exit_2_naming_the_flag, |t| {
    let run = tokctl_on(&t);
    run.run(&["users", "create", "bob"]).expect_code(0);
    for (args, names) in [
        (vec!["--budget", "-1"], "--budget `-1`"),
        (vec!["--budget", "abc"], "--budget `abc`"),
        (vec!["--budget", "0.0000000001"], "more than 9 decimals"),
        (
            vec!["--budget", "5", "--budget-window", "fortnightly"],
            "--budget-window `fortnightly`",
        ),
        (
            vec!["--budget", "5", "--budget-soft", "0"],
            "--budget-soft `0`",
        ),
        (
            vec!["--budget", "5", "--budget-soft", "150"],
            "--budget-soft `150`",
        ),
        (vec!["--budget-window", "weekly"], "needs a budget"),
        (vec!["--budget-soft", "80"], "add --budget AMOUNT"),
    ] {
        for cmd in [
            vec!["keys", "create", "--user", "bob"],
            vec!["users", "create", "carol"],
            vec!["teams", "create", "ops"],
        ] {
            let all: Vec<&str> = cmd.iter().chain(args.iter()).copied().collect();
            let out = run.run(&all);
            out.expect_code(2);
            assert!(out.stderr.contains(names), "{all:?}: {}", out.stderr);
        }
    }
    for args in [
        vec!["keys", "update", "1", "--budget", "-1"],
        vec!["users", "update", "bob", "--budget-soft", "101"],
        vec!["teams", "update", "ops", "--budget-window", "fortnightly"],
    ] {
        run.run(&args).expect_code(2);
    }
    // Nothing was created by a refused command.
    assert_eq!(
        json(&run, &["keys", "list", "--json"]),
        serde_json::json!([])
    );
    assert_eq!(
        json(&run, &["teams", "list", "--json"]),
        serde_json::json!([])
    );
    assert!(
        json(&run, &["users", "list", "--json"])
            .as_array()
            .is_some_and(|u| u.len() == 1)
    );
});

/// The budgets a fresh authenticator gives for `key`.
async fn budgets_of(t: &TestDb, key: &str) -> Option<Vec<Budget>> {
    let db = t.connect().await;
    let auth = Authenticator::new(db.clone(), Duration::from_secs(60));
    let p: Principal = auth.authenticate(key).await.expect("the key is valid");
    db.close().await;
    p.budgets.map(|b| b.to_vec())
}

fn created_key(run: &Tokctl, args: &[&str]) -> String {
    let out = run.run(args);
    out.expect_code(0);
    out.stdout.trim().to_string()
}

dbtest!(lookup_carries_the_budgets_of_key_user_and_team, |t| {
    let run = tokctl_on(&t);
    run.run(&["users", "create", "alice"]).expect_code(0);
    let plain = created_key(&run, &["keys", "create", "--user", "alice"]);
    assert_eq!(budgets_of(&t, &plain).await, None, "no budget anywhere");

    let before = now_us() / 1_000_000 * 1_000_000;
    let key = created_key(
        &run,
        &[
            "keys",
            "create",
            "--user",
            "alice",
            "--budget",
            "0.50",
            "--budget-window",
            "5s",
            "--budget-soft",
            "80",
        ],
    );
    run.run(&["users", "update", "alice", "--budget", "10"])
        .expect_code(0);
    run.run(&[
        "teams",
        "create",
        "ml",
        "--budget",
        "100",
        "--budget-window",
        "weekly",
    ])
    .expect_code(0);
    let after = now_us();
    let keys = json(&run, &["keys", "list", "--json"]);
    let key_id = keys[1]["id"].as_i64().expect("id");
    let user_id = user(&run, "alice")["id"].as_i64().expect("id");
    let team_id = team_json(&run, "ml")["id"].as_i64().expect("id");

    let b = budgets_of(&t, &key).await.expect("key and user budgets");
    assert_eq!(b.len(), 2, "{b:?}");
    assert_eq!(
        (b[0].scope, b[0].id, b[0].limit_nano, b[0].soft_percent),
        (Scope::Key, key_id, NANO / 2, Some(80))
    );
    assert_eq!(b[0].window, Window::Every(Duration::from_secs(5)));
    assert!((before..=after).contains(&b[0].anchor_us), "{b:?}");
    assert_eq!(
        (b[1].scope, b[1].id, b[1].limit_nano, b[1].window),
        (Scope::User, user_id, 10 * NANO, Window::Monthly)
    );
    assert_eq!(b[1].anchor_us, user(&run, "alice")["budget_anchor_us"]);

    // Moved into a team with a budget, the user's keys carry it too; the
    // key without a budget of its own carries the user's and the team's.
    run.run(&["users", "update", "alice", "--team", "ml"])
        .expect_code(0);
    let b = budgets_of(&t, &key).await.expect("three budgets");
    let scopes: Vec<(Scope, i64)> = b.iter().map(|b| (b.scope, b.id)).collect();
    assert_eq!(
        scopes,
        [
            (Scope::Key, key_id),
            (Scope::User, user_id),
            (Scope::Team, team_id)
        ]
    );
    assert_eq!((b[2].limit_nano, b[2].window), (100 * NANO, Window::Weekly));
    let b = budgets_of(&t, &plain).await.expect("user and team");
    assert_eq!(b.len(), 2);
    assert_eq!(b[1].scope, Scope::Team);

    // The snapshot keeps them: a gateway started during an outage of the
    // identity database enforces the same budgets.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("identity.json");
    let db = t.connect().await;
    snapshot::write(&db, &path).await.expect("snapshot written");
    db.close().await;
    let snap = snapshot::read(&path).expect("read").expect("there");
    let (_, record) = snap
        .keys
        .iter()
        .find(|(_, r)| r.key_id == key_id)
        .expect("the key is in the snapshot");
    let from_snapshot = record.budgets.as_deref().expect("budgets").to_vec();
    assert_eq!(Some(from_snapshot), budgets_of(&t, &key).await);

    // Cleared everywhere: none again.
    run.run(&["users", "update", "alice", "--no-budget", "--no-team"])
        .expect_code(0);
    let id = key_id.to_string();
    run.run(&["keys", "update", &id, "--no-budget"])
        .expect_code(0);
    assert_eq!(budgets_of(&t, &key).await, None);
});
