//! Item 7: `--format` (and its alias `--json`) on every command that prints
//! data, each writing what it says.

use super::{json, tokctl_on};
use crate::support::{TestDb, Tokctl};

#[tokio::test]
async fn listings_and_reports_speak_json_and_csv() {
    let t = TestDb::sqlite();
    let run = tokctl_on(&t);
    run.run(&["users", "create", "alice"]).expect_code(0);
    run.run(&["keys", "create", "--user", "alice", "--name", "a,b"])
        .expect_code(0);

    let users = json(
        run.run(&["users", "list", "--format", "json"])
            .expect_code(0),
    );
    assert_eq!(users[0]["name"], "alice", "{users}");
    assert_eq!(users[0]["active_keys"], 1, "{users}");
    let csv = run.run(&["users", "list", "--format", "csv"]);
    csv.expect_code(0);
    let mut lines = csv.stdout.lines();
    assert_eq!(
        lines.next(),
        Some(
            "id,name,disabled,active_keys,created_at_us,team,models,\
             budget_nano,budget_window,budget_soft_percent,budget_anchor_us"
        )
    );
    assert!(
        lines.next().is_some_and(|l| l.contains(",alice,false,1,")),
        "{}",
        csv.stdout
    );

    let keys = json(run.run(&["keys", "list", "--json"]).expect_code(0));
    assert_eq!(keys[0]["name"], "a,b", "{keys}");
    assert_eq!(keys[0]["state"], "active", "{keys}");
    let csv = run.run(&["keys", "list", "--format", "csv"]);
    csv.expect_code(0);
    assert!(csv.stdout.contains("\"a,b\""), "CSV quotes: {}", csv.stdout);

    let status = json(
        run.run(&["migrate", "status", "--format", "json"])
            .expect_code(0),
    );
    let migrations = status[0]["migrations"].as_array().expect("migrations");
    assert!(
        !migrations.is_empty() && migrations.iter().all(|m| m["state"] == "installed"),
        "{status}"
    );

    let summary = json(
        run.run(&["ledger", "summary", "--format", "json"])
            .expect_code(0),
    );
    assert_eq!(summary[0]["requests"], 0, "{summary}");
    let csv = run.run(&["ledger", "summary", "--csv"]);
    csv.expect_code(0);
    assert!(csv.stdout.starts_with("requests,errors,"), "{}", csv.stdout);

    let verify = json(
        run.run(&["ledger", "verify", "--format", "json"])
            .expect_code(0),
    );
    assert!(verify["chains"].is_array(), "{verify}");
    std::fs::create_dir_all(run.dir().join("data/spool")).expect("the spool dir");
    let spool = json(
        run.run(&["ledger", "spool", "status", "--json"])
            .expect_code(0),
    );
    assert_eq!(spool["segments"], serde_json::json!([]), "{spool}");

    // One flag, checked by clap: a format the command cannot write, or both spellings.
    let bad = run.run(&["users", "list", "--format", "toml"]);
    bad.expect_code(2);
    assert!(bad.stderr.contains("table, json, csv"), "{}", bad.stderr);
    run.run(&["users", "list", "--json", "--format", "table"])
        .expect_code(2);
}

#[test]
fn config_show_as_json_keeps_sources_and_masks_secrets() {
    let run = Tokctl::new()
        .config("[db]\nmax_open_conns = 9\n[ledger.chain]\nhmac_key = \"hunter2\"\n")
        .env("TOKCTL_LOG_LEVEL", "debug");
    let out = run.run(&["config", "show", "--format", "json"]);
    out.expect_code(0);
    let v = json(&out);
    assert_eq!(v["config"]["db"]["max_open_conns"], 9, "{v}");
    assert!(
        v["sources"]["db.max_open_conns"]
            .as_str()
            .is_some_and(|s| s.starts_with("file ")),
        "{v}"
    );
    assert_eq!(v["sources"]["log.level"], "env TOKCTL_LOG_LEVEL", "{v}");
    assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);
    let toml = run.run(&["config", "show"]);
    toml.expect_code(0);
    assert!(
        toml.stdout.contains("max_open_conns = 9  # file "),
        "{}",
        toml.stdout
    );
}

/// Piped, a table neither wraps nor shortens: a long name stays whole on
/// its row.
#[test]
fn piped_tables_do_not_wrap() {
    let t = TestDb::sqlite();
    let run = tokctl_on(&t);
    run.run(&["users", "create", "alice"]).expect_code(0);
    let long = "a-key-name-".repeat(20);
    run.run(&["keys", "create", "--user", "alice", "--name", &long])
        .expect_code(0);
    let out = run.run(&["keys", "list"]);
    out.expect_code(0);
    let row = out
        .stdout
        .lines()
        .find(|l| l.contains("alice"))
        .unwrap_or_else(|| panic!("no row:\n{}", out.stdout));
    assert!(row.contains(&long) && !row.contains('…'), "{}", out.stdout);
    assert_eq!(
        out.stdout.lines().count(),
        5,
        "one line per row:\n{}",
        out.stdout
    );
}
