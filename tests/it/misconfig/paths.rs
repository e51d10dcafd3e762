//! Item 1: relative paths in a config file resolve against its directory;
//! `serve` refuses to start beside the data it used to find in the current
//! directory; read-only commands never create a database.

use super::config_elsewhere;
use crate::support::Tokctl;

#[test]
fn relative_paths_follow_the_config_file_not_the_current_directory() {
    // ledger.path written in the file, identity.path left at its default:
    // both land beside the config file.
    let (conf_dir, conf) = config_elsewhere("[ledger]\npath = \"db/ledger.db\"\n");
    let conf = conf.to_str().expect("utf-8 path");
    let run = Tokctl::new();
    run.run(&["--config", conf, "users", "create", "alice"])
        .expect_code(0);
    assert!(conf_dir.path().join("data/tokctl.db").is_file());
    run.run(&["--config", conf, "migrate"]).expect_code(0);
    assert!(conf_dir.path().join("db/ledger.db").is_file());
    assert!(
        !run.dir().join("data").exists() && !run.dir().join("db").exists(),
        "nothing may be created in the current directory"
    );
    // From yet another directory, the same config finds the same user.
    let out = Tokctl::new().run(&["--config", conf, "users", "list"]);
    out.expect_code(0);
    assert!(out.stdout.contains("alice"), "{}", out.stdout);
    // `config show` prints the resolved paths.
    let show = Tokctl::new().run(&["--config", conf, "config", "show"]);
    let want = conf_dir.path().join("db/ledger.db");
    assert!(
        show.stdout
            .contains(&format!("path = \"{}\"", want.display())),
        "{}",
        show.stdout
    );
}

#[test]
fn environment_paths_and_no_config_file_stay_relative_to_the_current_directory() {
    let (conf_dir, conf) = config_elsewhere("[db]\nmax_open_conns = 16\n");
    let conf = conf.to_str().expect("utf-8 path");
    let run = Tokctl::new().env("TOKCTL_IDENTITY_PATH", "here.db");
    run.run(&["--config", conf, "users", "create", "bob"])
        .expect_code(0);
    assert!(run.dir().join("here.db").is_file());
    assert!(!conf_dir.path().join("here.db").exists());
    // No config file at all: the README's `tokctl serve` from the repo
    // root keeps `data/tokctl.db` under the current directory.
    let bare = Tokctl::new();
    bare.run(&["users", "create", "carol"]).expect_code(0);
    assert!(bare.dir().join("data/tokctl.db").is_file());
}

#[test]
fn read_only_commands_refuse_a_missing_database_and_create_nothing() {
    let (conf_dir, conf) = config_elsewhere("[auth]\ncache_ttl_ms = 1000\n");
    let conf = conf.to_str().expect("utf-8 path");
    let run = Tokctl::new();
    let want_ledger = conf_dir.path().join("data/tokctl.db");
    for args in [
        &["users", "list"][..],
        &["keys", "list"],
        &["ledger", "summary"],
        &["ledger", "export"],
        &["ledger", "verify"],
        &["migrate", "status"],
        &["migrate", "--dry-run"],
    ] {
        let mut full = vec!["--config", conf];
        full.extend_from_slice(args);
        let out = run.run(&full);
        out.expect_code(2);
        let what = if args[0] == "users" || args[0] == "keys" {
            "identity database"
        } else {
            "ledger"
        };
        let head = format!("no {what} at {}", want_ledger.display());
        assert!(out.stderr.contains(&head), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("config {conf}")) && out.stderr.contains(".path"),
            "{args:?} names the file and the key: {}",
            out.stderr
        );
    }
    // spool status reads the spool directory only.
    let out = run.run(&["--config", conf, "ledger", "spool", "status"]);
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(
        !want_ledger.exists(),
        "a read-only command created the ledger"
    );
    assert!(!conf_dir.path().join("data").exists());
    assert!(!run.dir().join("data").exists());
}

#[test]
fn serve_refuses_to_start_beside_the_data_it_used_to_find() {
    let (conf_dir, conf) = config_elsewhere("[server]\nlisten = \"127.0.0.1:0\"\n");
    let conf = conf.to_str().expect("utf-8 path");
    let run = Tokctl::new();
    // An existing deployment run from its own directory: the ledger sits in
    // the current directory's data/, the config file elsewhere.
    std::fs::create_dir_all(run.dir().join("data")).expect("mkdir");
    std::fs::write(run.dir().join("data/tokctl.db"), b"").expect("old db");
    let out = run.run(&["--config", conf, "serve"]);
    out.expect_code(2);
    let new = conf_dir.path().join("data/tokctl.db");
    assert!(
        out.stderr
            .contains("data/tokctl.db exists in the current directory"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&new.display().to_string()),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("mv "),
        "says how to move: {}",
        out.stderr
    );
    // Every command that opens a database refuses the same way.
    for args in [
        &["users", "list"][..],
        &["users", "create", "x"],
        &["migrate"],
    ] {
        let mut full = vec!["--config", conf];
        full.extend_from_slice(args);
        let out = run.run(&full);
        out.expect_code(2);
        assert!(
            out.stderr.contains("exists in the current directory"),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert!(!new.exists(), "nothing created at the new place");
}
