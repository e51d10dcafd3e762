//! What an operator sees when the database cannot be used: one clear line
//! on stderr and a non-zero exit, never a panic or a stack of messages.

use crate::support::{Tokctl, free_port};

fn assert_one_error_line(stderr: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one line on stderr: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unreachable_postgres_is_one_clear_line() {
    let port = free_port();
    let dsn = format!("postgres://app:hunter2@127.0.0.1:{port}/ledger");
    let out = Tokctl::new()
        .env("TOKCTL_LEDGER_PATH", &dsn)
        .env("TOKCTL_IDENTITY_PATH", &dsn)
        .env("TOKCTL_DB_CONNECT_TIMEOUT_MS", "1000")
        .run(&["migrate"]);
    assert_ne!(out.code, 0);
    assert_one_error_line(&out.stderr);
    assert!(
        out.stderr.contains(&format!("127.0.0.1:{port}")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("refused"), "says why: {}", out.stderr);
    assert!(
        !out.stderr.contains("hunter2"),
        "no password: {}",
        out.stderr
    );
}

#[test]
fn malformed_dsn_is_one_clear_line() {
    let out = Tokctl::new()
        .env("TOKCTL_LEDGER_PATH", "postgres://app:hunter2@/ledger")
        .run(&["migrate"]);
    assert_ne!(out.code, 0);
    assert_one_error_line(&out.stderr);
    assert!(out.stderr.contains("ledger.path"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("hunter2"),
        "no password: {}",
        out.stderr
    );
}

#[test]
fn unsupported_scheme_is_one_clear_line() {
    let out = Tokctl::new()
        .env("TOKCTL_IDENTITY_PATH", "mysql://h/db")
        .run(&["migrate", "status"]);
    out.expect_code(2);
    assert_one_error_line(&out.stderr);
    assert!(out.stderr.contains("identity.path"), "{}", out.stderr);
    assert!(out.stderr.contains("mysql"), "{}", out.stderr);
}

#[tokio::test]
async fn missing_postgres_database_says_so() {
    let dsn = crate::support::pg::cluster().dsn("no_such_database");
    let out = Tokctl::new()
        .env("TOKCTL_LEDGER_PATH", &dsn)
        .env("TOKCTL_IDENTITY_PATH", &dsn)
        .env("TOKCTL_DB_CONNECT_TIMEOUT_MS", "2000")
        .run(&["migrate"]);
    out.expect_code(1);
    assert_one_error_line(&out.stderr);
    assert!(
        out.stderr.contains("\"no_such_database\" does not exist"),
        "{}",
        out.stderr
    );
}
