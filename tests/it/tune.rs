//! `tokctl tune` through the real binary: the seed rows, the output
//! formats read back by tokctl itself, bad input, writing the config file,
//! and `--measure` on SQLite and PostgreSQL.

use serde_json::Value;

use crate::support::{Backend, TestDb, Tokctl};

fn json(out: &crate::support::bin::Output) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

fn val(v: &Value, key: &str) -> u64 {
    v["recommendation"][key]["value"]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
}

const UNBOUND: [&str; 6] = [
    "--backend",
    "postgres",
    "--cores",
    "64",
    "--db-max-conns",
    "1000",
];

#[test]
fn the_seed_row_at_ten_thousand_qps_comes_out_of_the_binary() {
    let mut args = vec!["tune", "--qps", "10000", "--format", "json"];
    args.extend(UNBOUND);
    let out = Tokctl::new().run(&args);
    out.expect_code(0);
    let v = json(&out);
    assert_eq!(val(&v, "batch_size"), 2_000);
    assert_eq!(val(&v, "flush_ms"), 200);
    assert_eq!(val(&v, "buffer_size"), 200_000);
    assert_eq!(val(&v, "num_workers"), 10);
    let reason = v["recommendation"]["batch_size"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("10000"), "{reason}");
}

#[test]
fn the_table_names_the_constraint_that_gave_way() {
    let out = Tokctl::new().run(&[
        "tune",
        "--qps",
        "100000",
        "--backend",
        "postgres",
        "--cores",
        "4",
        "--db-max-conns",
        "500",
    ]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("ledger.async.num_workers"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("4 (limited by cores)"),
        "{}",
        out.stdout
    );
    let sqlite = Tokctl::new().run(&["tune", "--qps", "5000", "--backend", "sqlite"]);
    sqlite.expect_code(0);
    assert!(
        sqlite.stdout.contains("SQLite takes one writer"),
        "{}",
        sqlite.stdout
    );
    let huge = Tokctl::new().run(&["tune", "--qps", "2000000", "--backend", "postgres"]);
    huge.expect_code(0);
    assert!(huge.stdout.contains("one writer is not the answer"));
}

#[test]
fn toml_output_is_a_config_tokctl_accepts_with_the_same_values() {
    let mut args = vec![
        "tune",
        "--qps",
        "3000",
        "--max-delay-ms",
        "250",
        "--format",
        "toml",
    ];
    args.extend(UNBOUND);
    let toml = Tokctl::new().run(&args);
    toml.expect_code(0);
    let run = Tokctl::new().config(&toml.stdout);
    run.run(&["config", "check"]).expect_code(0);
    let shown = run.run(&["config", "show"]);
    shown.expect_code(0);
    assert!(shown.stdout.contains("flush_ms = 250"), "{}", shown.stdout);
    let env = Tokctl::new().run(&[&args[..6], &["env"], &args[7..]].concat());
    env.expect_code(0);
    let mut run = Tokctl::new();
    for line in env.stdout.lines() {
        let (k, v) = line
            .strip_prefix("export ")
            .and_then(|l| l.split_once('='))
            .unwrap_or_else(|| panic!("not an export line: {line}"));
        run = run.env(k, v);
    }
    let shown = run.run(&["config", "show"]);
    shown.expect_code(0);
    assert!(shown.stdout.contains("flush_ms = 250"), "{}", shown.stdout);
    assert!(
        shown.stdout.contains("TOKCTL_LEDGER_ASYNC_FLUSH_MS"),
        "{}",
        shown.stdout
    );
}

#[test]
fn bad_input_is_a_usage_error_with_a_clear_message() {
    let cases: [(&[&str], &str); 8] = [
        (&["--qps", "0"], "--qps must be a positive number"),
        (&["--qps", "-5"], "--qps must be a positive number"),
        (&["--qps", "1e12"], "beyond any sensible value"),
        (&["--qps", "100", "--cores", "0"], "--cores"),
        (
            &["--qps", "100", "--burst-seconds", "-1"],
            "--burst-seconds",
        ),
        (
            &["--qps", "10000", "--memory-budget", "1MiB"],
            "cannot hold 1 s of traffic",
        ),
        (&["--qps", "100", "--memory-budget", "lots"], "not a size"),
        (&["--burst-seconds", "2"], "--qps is required"),
    ];
    for (args, message) in cases {
        let out = Tokctl::new().run(
            &[
                &["tune", "--backend", "postgres", "--db-max-conns", "100"],
                args,
            ]
            .concat(),
        );
        out.expect_code(2);
        assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn write_yes_edits_the_file_keeping_comments_and_a_backup() {
    let text = "# my gateway\n[ledger.async]\n# by hand\nbatch_size = 7 # old\n";
    let run = Tokctl::new().config(text);
    let path = run.dir().join("config.toml");
    let mut args = vec!["tune", "--qps", "1000", "--write", "--dry-run"];
    args.extend(UNBOUND);
    run.run(&args).expect_code(0);
    assert_eq!(std::fs::read_to_string(&path).unwrap_or_default(), text);
    run.run(&args[..4]).expect_code(2); // --write without --yes and no terminal
    args[4] = "--yes";
    let out = run.run(&args);
    out.expect_code(0);
    assert!(
        out.stderr.contains("ledger.async.batch_size: 7 -> 500"),
        "{}",
        out.stderr
    );
    let new = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(new.contains("# my gateway"), "{new}");
    assert!(new.contains("# by hand\nbatch_size = 500 # old"), "{new}");
    assert!(new.contains("num_workers = 5"), "{new}");
    let backup = std::fs::read_to_string(run.dir().join("config.toml.bak")).unwrap_or_default();
    assert_eq!(backup, text);
    run.run(&["config", "check"]).expect_code(0);
}

dbtest!(measure_reports_positive_rates, |db| {
    let run = Tokctl::new()
        .env("TOKCTL_LEDGER_PATH", &db.dsn)
        .env("TOKCTL_IDENTITY_PATH", &db.dsn);
    run.run(&["migrate"]).expect_code(0);
    let out = run.run(&[
        "tune",
        "--qps",
        "500",
        "--measure",
        "--measure-seconds",
        "1",
        "--format",
        "json",
    ]);
    out.expect_code(0);
    let v = json(&out);
    let samples = v["measurement"]["samples"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(samples.len(), 6, "{v}");
    for s in &samples {
        let rate = s["entries_per_second"].as_f64().unwrap_or(0.0);
        assert!(rate > 10.0 && rate < 10_000_000.0, "implausible rate {s}");
        assert!(s["flush_p99_ms"].as_f64().unwrap_or(-1.0) > 0.0, "{s}");
    }
    assert!(val(&v, "num_workers") >= 1);
    if db.backend == Backend::Sqlite {
        assert_eq!(val(&v, "num_workers"), 1);
    } else {
        // The default --db-max-conns is the server's max_connections.
        assert!(
            v["recommendation"]["inputs"]["db_max_conns"]
                .as_u64()
                .unwrap_or(0)
                >= 10
        );
    }
    let reason = v["recommendation"]["num_workers"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("measured"), "{reason}");
    // The scratch table is gone and the ledger untouched.
    assert_eq!(db.scalar("SELECT COUNT(*) FROM usage_entries").await, 0);
    let left = match db.backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'tokctl_tune_scratch%'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM pg_class WHERE relname LIKE 'tokctl_tune_scratch%'"
        }
    };
    assert_eq!(db.scalar(left).await, 0);
});

#[test]
fn measure_without_migrations_says_what_to_do() {
    let db = TestDb::sqlite();
    let out = Tokctl::new().env("TOKCTL_LEDGER_PATH", &db.dsn).run(&[
        "tune",
        "--qps",
        "50",
        "--measure",
        "--measure-seconds",
        "0.2",
    ]);
    out.expect_code(1);
    assert!(out.stderr.contains("tokctl migrate"), "{}", out.stderr);
}

#[test]
fn an_unreachable_postgres_falls_back_to_100_connections_with_a_warning() {
    let out = Tokctl::new()
        .env("TOKCTL_LEDGER_PATH", "postgres://u:secret@127.0.0.1:1/x")
        .env("TOKCTL_DB_CONNECT_TIMEOUT_MS", "300")
        .run(&["tune", "--qps", "100", "--cores", "64", "--format", "json"]);
    out.expect_code(0);
    assert!(
        out.stderr.contains("assuming 100 connections"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("secret"), "the password is masked");
    let v = json(&out);
    assert_eq!(v["recommendation"]["inputs"]["db_max_conns"], 100);
    assert_eq!(v["recommendation"]["inputs"]["backend"], "postgres");
}

/// The entries at risk follow the configured spool: none lost to a process
/// crash with it (a power loss bounded by its fsync mode), the buffer and
/// in-flight batches without it.
#[test]
fn entries_at_risk_follow_the_configured_spool() {
    let risk = |env: &[(&str, &str)]| {
        let mut t = Tokctl::new();
        for (k, v) in env {
            t = t.env(k, *v);
        }
        let mut args = vec!["tune", "--qps", "10000", "--format", "json"];
        args.extend(UNBOUND);
        let out = t.run(&args);
        out.expect_code(0);
        let v = json(&out);
        let r = &v["recommendation"]["entries_at_risk"];
        (
            r["value"].as_u64().unwrap_or(u64::MAX),
            r["reason"].as_str().unwrap_or_default().to_string(),
            val(&v, "buffer_size") + val(&v, "num_workers") * val(&v, "batch_size"),
        )
    };
    let (n, reason, _) = risk(&[("TOKCTL_LEDGER_SPOOL_FSYNC_MS", "250")]);
    assert_eq!(n, 2_500, "10,000 QPS × 250 ms: {reason}");
    assert!(reason.contains("process crash loses none"), "{reason}");
    let (n, reason, held) = risk(&[("TOKCTL_LEDGER_SPOOL_ENABLED", "false")]);
    assert_eq!(n, held, "{reason}");
    assert!(reason.starts_with("spool off"), "{reason}");
    let (n, _, _) = risk(&[("TOKCTL_LEDGER_SPOOL_FSYNC", "always")]);
    assert_eq!(n, 0);
}

/// `--verify` on SQLite at a low rate: every 2xx answer has a ledger row,
/// nothing dropped, the buffer far from full, exit 0.
#[test]
fn verify_at_fifty_qps_on_sqlite_keeps_up() {
    let out = Tokctl::new().run(&[
        "tune",
        "--qps",
        "50",
        "--verify",
        "--verify-seconds",
        "2",
        "--format",
        "json",
    ]);
    out.expect_code(0);
    let v: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    let o = &v["observed"];
    let answered = o["answered_2xx"].as_u64().unwrap_or(0);
    assert!(answered >= 80, "too few answers: {v}");
    assert_eq!(o["sent"].as_u64(), Some(answered), "{v}");
    assert!(o["rows"].as_u64().unwrap_or(0) >= answered, "{v}");
    assert_eq!(o["dropped"].as_u64(), Some(0), "{v}");
    assert!(o["samples"].as_u64().unwrap_or(0) >= 5, "{v}");
    assert!(v["peak_percent"].as_f64().unwrap_or(100.0) < 80.0, "{v}");
    assert_eq!(v["kept_up"], Value::Bool(true), "{v}");
}

/// A tiny buffer that drops when full, at a rate it cannot hold: exit 1
/// and a verdict naming the failed checks.
#[test]
fn verify_with_a_tiny_dropping_buffer_reports_failure() {
    let out = Tokctl::new().run(&[
        "tune",
        "--qps",
        "1000",
        "--verify",
        "--verify-seconds",
        "2",
        "--verify-override",
        "buffer_size=4",
        "--verify-override",
        "on_full=drop",
        "--verify-override",
        "flush_ms=1000",
    ]);
    out.expect_code(1);
    let last = out.stdout.lines().last().unwrap_or_default();
    assert!(last.starts_with("did not keep up: "), "{}", out.stdout);
    assert!(last.contains("dropped"), "{}", out.stdout);
    assert!(out.stdout.contains("buffer_size=4"), "{}", out.stdout);
}

#[test]
fn verify_rejects_bad_overrides_and_durations() {
    let out = Tokctl::new().run(&[
        "tune",
        "--qps",
        "50",
        "--verify",
        "--verify-override",
        "nope=1",
    ]);
    out.expect_code(2);
    assert!(out.stderr.contains("KEY=VALUE"), "{}", out.stderr);
    let out = Tokctl::new().run(&[
        "tune",
        "--qps",
        "50",
        "--verify",
        "--verify-seconds",
        "9999",
    ]);
    out.expect_code(2);
    assert!(out.stderr.contains("--verify-seconds"), "{}", out.stderr);
}
