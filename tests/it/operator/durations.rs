//! Item 8: durations with units in flags and config (a bare number keeps
//! its documented unit), and config type errors that name the key and the
//! expected form in words.

use std::net::TcpListener;

use crate::support::Tokctl;

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

#[test]
fn health_timeout_takes_units() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    for t in ["2s", "500ms", "2"] {
        let out = Tokctl::new().run(&["health", "--url", &url, "--timeout", t]);
        // Unreachable (Nagios UNKNOWN), not a usage error about the flag.
        out.expect_code(3);
        assert!(!out.stderr.contains("--timeout"), "{t}: {}", out.stderr);
    }
    let bad = Tokctl::new().run(&["health", "--url", &url, "--timeout", "soon"]);
    bad.expect_code(3);
    assert!(
        bad.stderr.contains("bare number of seconds") && bad.stderr.contains("soon"),
        "{}",
        bad.stderr
    );
}

#[test]
fn ms_keys_accept_a_unit_from_file_env_and_flag() {
    let run = Tokctl::new().config("[ledger.async]\nflush_ms = \"1s\"\n");
    let out = run.run(&["config", "show"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("flush_ms = 1000  # file "),
        "{}",
        out.stdout
    );
    let out = Tokctl::new()
        .env("TOKCTL_LEDGER_ASYNC_FLUSH_MS", "2s")
        .run(&["config", "show"]);
    out.expect_code(0);
    assert!(
        out.stdout
            .contains("flush_ms = 2000  # env TOKCTL_LEDGER_ASYNC_FLUSH_MS"),
        "{}",
        out.stdout
    );
    // Bare numbers keep their unit: milliseconds here, minutes for the pool durations.
    let out = Tokctl::new()
        .config("[ledger.async]\nflush_ms = 250\n[db]\nconn_max_lifetime = 5\n")
        .run(&["config", "show"]);
    out.expect_code(0);
    assert!(out.stdout.contains("flush_ms = 250  #"), "{}", out.stdout);
    assert!(
        out.stdout.contains("conn_max_lifetime = \"5m\""),
        "{}",
        out.stdout
    );
}

#[test]
fn type_errors_name_the_key_and_the_form_in_words() {
    let run = Tokctl::new()
        .config("[server]\nlisten = \"127.0.0.1:0\"\n\n[ledger.async]\nflush_ms = \"fast\"\n");
    let out = run.run(&["config", "check"]);
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("config.toml:5: ledger.async.flush_ms: expected milliseconds as an integer")
            && out.stderr.contains("got the string \"fast\""),
        "{}",
        out.stderr
    );
    let out = Tokctl::new()
        .config("[ledger.async]\nbatch_size = \"many\"\n")
        .run(&["config", "check"]);
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("ledger.async.batch_size: expected a whole number"),
        "{}",
        out.stderr
    );
    let out = Tokctl::new()
        .env("TOKCTL_AUTH_CACHE_TTL_MS", "a while")
        .run(&["config", "check"]);
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("auth.cache_ttl_ms from env TOKCTL_AUTH_CACHE_TTL_MS: expected milliseconds"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_unknown_section_is_named_as_a_section() {
    let run = Tokctl::new().config("[identity]\npath = \"data/x.db\"\n\n[bogus]\nkey = 1\n");
    let out = run.run(&["config", "check"]);
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("config.toml:4: unknown section `bogus`"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("identity.bogus"), "{}", out.stderr);
}

#[test]
fn tune_flags_take_units() {
    let run = Tokctl::new();
    let out = run.run(&[
        "tune",
        "--qps",
        "100",
        "--max-delay-ms",
        "1s",
        "--burst-seconds",
        "500ms",
        "--format",
        "json",
    ]);
    out.expect_code(0);
    let v = super::json(&out);
    let flush = v["recommendation"]["flush_ms"]["value"]
        .as_u64()
        .expect("flush_ms");
    assert!(flush <= 1000, "bounded by --max-delay-ms 1s: {v}");
    let out = run.run(&["tune", "--qps", "100", "--max-delay-ms", "0"]);
    out.expect_code(2);
}
