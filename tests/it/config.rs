//! Configuration through the real binary: layering and the source of each
//! value (`config show`), strict errors (exit 2 naming the key and where it
//! came from), warnings on unknown variables, durations, masking, and the
//! committed `config.toml` staying equal to `Config::default()`.

mod defaults;

use crate::support::Tokctl;

/// The `key = value  # source` line of `config show` for the key `name`
/// inside section `section`.
fn shown_line(show: &str, section: &str, name: &str) -> String {
    let mut current = String::new();
    for line in show.lines() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            current = h.to_string();
        } else if current == section && t.starts_with(&format!("{name} = ")) {
            return t.to_string();
        }
    }
    panic!("`config show` has no {section}.{name}:\n{show}");
}

#[test]
fn compat_env_sets_a_value_and_says_so() {
    let out = Tokctl::new()
        .env("TOKLIGENCE_LEDGER_ASYNC_BATCH_SIZE", "5000")
        .run(&["config", "show"]);
    out.expect_code(0);
    assert_eq!(
        shown_line(&out.stdout, "ledger.async", "batch_size"),
        "batch_size = 5000  # env TOKLIGENCE_LEDGER_ASYNC_BATCH_SIZE"
    );
}

#[test]
fn tokctl_prefix_wins_over_tokligence() {
    let out = Tokctl::new()
        .env("TOKLIGENCE_LEDGER_ASYNC_BATCH_SIZE", "5000")
        .env("TOKCTL_LEDGER_ASYNC_BATCH_SIZE", "7")
        .run(&["config", "show"]);
    out.expect_code(0);
    assert_eq!(
        shown_line(&out.stdout, "ledger.async", "batch_size"),
        "batch_size = 7  # env TOKCTL_LEDGER_ASYNC_BATCH_SIZE"
    );
}

#[test]
fn file_value_shows_the_file_as_source() {
    let run = Tokctl::new().config("[db]\nmax_open_conns = 9\n");
    let out = run.run(&["config", "show"]);
    out.expect_code(0);
    let line = shown_line(&out.stdout, "db", "max_open_conns");
    assert!(line.starts_with("max_open_conns = 9  # file "), "{line}");
    assert!(line.ends_with("config.toml"), "{line}");
}

#[test]
fn misspelt_key_in_file_names_the_key_and_line() {
    let run = Tokctl::new().config("# tuning\n[ledger.async]\nflush_ms = 5\nbatch_sise = 5\n");
    let out = run.run(&["config", "check"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("config.toml:4:"),
        "names the line: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("ledger.async.batch_sise"),
        "names the key: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("batch_size"),
        "suggests: {}",
        out.stderr
    );
    assert_eq!(
        out.stderr.trim().lines().count(),
        1,
        "one line: {}",
        out.stderr
    );
}

#[test]
fn bad_env_value_names_the_key_and_variable() {
    let out = Tokctl::new()
        .env("TOKCTL_DB_MAX_OPEN_CONNS", "lots")
        .run(&["config", "show"]);
    out.expect_code(2);
    assert!(out.stderr.contains("db.max_open_conns"), "{}", out.stderr);
    assert!(
        out.stderr.contains("TOKCTL_DB_MAX_OPEN_CONNS"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "nothing is shown: {}", out.stdout);
}

#[test]
fn too_many_workers_is_refused_naming_the_key() {
    let out = Tokctl::new()
        .env("TOKCTL_SERVER_WORKERS", "100000")
        .run(&["config", "show"]);
    out.expect_code(2);
    assert!(out.stderr.contains("server.workers"), "{}", out.stderr);
    assert!(out.stderr.contains("one per CPU"), "{}", out.stderr);
}

#[test]
fn unknown_tokctl_variable_warns_with_the_closest_key() {
    let out = Tokctl::new()
        .env("TOKCTL_LEDGER_ASYNC_BATCH_SIZ", "5")
        .run(&["config", "check"]);
    out.expect_code(0);
    assert!(
        out.stderr
            .contains("warning: TOKCTL_LEDGER_ASYNC_BATCH_SIZ is not a tokctl setting"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("did you mean TOKCTL_LEDGER_ASYNC_BATCH_SIZE?"),
        "{}",
        out.stderr
    );
}

#[test]
fn unknown_tokligence_variable_warns_once() {
    let out = Tokctl::new()
        .env("TOKLIGENCE_MARKETPLACE_ENABLED", "true")
        .run(&["config", "show"]);
    out.expect_code(0);
    assert_eq!(
        out.stderr.matches("TOKLIGENCE_MARKETPLACE_ENABLED").count(),
        1,
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("warning:"), "{}", out.stderr);
}

#[test]
fn reserved_names_are_not_warned_about() {
    let out = Tokctl::new()
        .env("TOKCTL_BLESS", "1")
        .env("TOKCTL_TEST_LOG", "1")
        .env("TOKCTL_PG_BIN", "/nowhere")
        .run(&["config", "check"]);
    out.expect_code(0);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
}

#[test]
fn bare_duration_is_minutes_and_units_work() {
    let minutes = Tokctl::new()
        .env("TOKCTL_DB_CONN_MAX_LIFETIME", "30")
        .run(&["config", "show"]);
    minutes.expect_code(0);
    assert_eq!(
        shown_line(&minutes.stdout, "db", "conn_max_lifetime"),
        "conn_max_lifetime = \"30m\"  # env TOKCTL_DB_CONN_MAX_LIFETIME"
    );
    let seconds = Tokctl::new()
        .env("TOKCTL_DB_CONN_MAX_IDLE_TIME", "45s")
        .run(&["config", "show"]);
    seconds.expect_code(0);
    assert_eq!(
        shown_line(&seconds.stdout, "db", "conn_max_idle_time"),
        "conn_max_idle_time = \"45s\"  # env TOKCTL_DB_CONN_MAX_IDLE_TIME"
    );
    let bad = Tokctl::new()
        .env("TOKCTL_DB_CONN_MAX_LIFETIME", "soon")
        .run(&["config", "check"]);
    bad.expect_code(2);
    assert!(
        bad.stderr.contains("db.conn_max_lifetime"),
        "{}",
        bad.stderr
    );
}

/// Every secret the configuration holds, planted through the environment,
/// is masked by its type in `config show`: the HMAC key whole, DSN and
/// Redis passwords in the user part and in a `password=` parameter.
#[test]
fn config_show_never_prints_a_planted_secret() {
    let out = Tokctl::new()
        .env("TOKCTL_LEDGER_CHAIN_HMAC_KEY", "planted-hmac-key")
        .env(
            "TOKCTL_LEDGER_PATH",
            "postgres://app:planted-1@db.example/ledger",
        )
        .env(
            "TOKCTL_IDENTITY_PATH",
            "postgres://id@db.example/identity?sslmode=disable&password=planted-2",
        )
        .env(
            "TOKCTL_RATE_LIMIT_REDIS_ADDR",
            "redis://:planted-3@cache:6379",
        )
        .run(&["config", "show"]);
    out.expect_code(0);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(!all.contains("planted"), "{all}");
    assert!(
        shown_line(&out.stdout, "ledger.chain", "hmac_key").contains("\"********\""),
        "{}",
        out.stdout
    );
    assert!(
        shown_line(&out.stdout, "identity", "path").contains("password=********"),
        "{}",
        out.stdout
    );
    assert!(
        shown_line(&out.stdout, "rate_limit", "redis_addr").contains(":********@cache"),
        "{}",
        out.stdout
    );
}

#[test]
fn dsn_passwords_are_masked() {
    let out = Tokctl::new()
        .env(
            "TOKCTL_LEDGER_PATH",
            "postgres://app:hunter2@db.example:5432/ledger",
        )
        .env(
            "TOKCTL_IDENTITY_PATH",
            "postgresql://id:s3cret@db.example/identity",
        )
        .run(&["config", "show"]);
    out.expect_code(0);
    assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);
    assert!(!out.stdout.contains("s3cret"), "{}", out.stdout);
    assert!(
        shown_line(&out.stdout, "ledger", "path")
            .contains("postgres://app:********@db.example:5432/ledger"),
        "{}",
        out.stdout
    );
}

#[test]
fn verbose_flag_overrides_the_log_level() {
    let out = Tokctl::new()
        .env("TOKCTL_LOG_LEVEL", "warn")
        .run(&["-v", "config", "show"]);
    out.expect_code(0);
    assert_eq!(
        shown_line(&out.stdout, "log", "level"),
        "level = \"debug\"  # flag -v"
    );
    let quiet = Tokctl::new().run(&["config", "show", "-q"]);
    quiet.expect_code(0);
    assert_eq!(
        shown_line(&quiet.stdout, "log", "level"),
        "level = \"warn\"  # flag -q"
    );
}

#[test]
fn tokctl_config_variable_names_the_file() {
    let run = Tokctl::new();
    let path = crate::support::write_config(run.dir(), "[auth]\ncache_ttl_ms = 1234\n");
    let out = run
        .env("TOKCTL_CONFIG", path.to_string_lossy())
        .run(&["config", "show"]);
    out.expect_code(0);
    assert!(
        shown_line(&out.stdout, "auth", "cache_ttl_ms").starts_with("cache_ttl_ms = 1234  # file"),
        "{}",
        out.stdout
    );
}

#[test]
fn missing_explicit_config_file_is_a_config_error() {
    let out = Tokctl::new().run(&["--config", "/nonexistent/tokctl.toml", "config", "check"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("/nonexistent/tokctl.toml"),
        "{}",
        out.stderr
    );
}
