//! The command line itself: help, version and usage errors, through the
//! real binary.

use crate::support::Tokctl;

#[test]
fn help_lists_the_subcommands_and_exit_codes() {
    let out = Tokctl::new().run(&["--help"]);
    out.expect_code(0);
    for word in ["Usage", "config", "migrate", "Exit codes"] {
        assert!(
            out.stdout.contains(word),
            "--help lacks `{word}`:\n{}",
            out.stdout
        );
    }
}

#[test]
fn version_prints_the_package_version() {
    let out = Tokctl::new().run(&["--version"]);
    out.expect_code(0);
    assert_eq!(
        out.stdout.trim(),
        format!("tokctl {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let out = Tokctl::new().run(&["frobnicate"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("frobnicate"),
        "the error names the subcommand:\n{}",
        out.stderr
    );
}

#[test]
fn subcommand_help_works() {
    let out = Tokctl::new().run(&["migrate", "--help"]);
    out.expect_code(0);
    assert!(out.stdout.contains("--dry-run"), "{}", out.stdout);
}

/// A reader that left (`tokctl … | head`) is not an error: every command
/// that prints exits 0 with nothing on stderr when its stdout is a closed
/// pipe, recognised by the error's kind.
#[test]
fn a_closed_stdout_is_success() {
    let t = Tokctl::new().config("");
    for args in [
        &["config", "show"][..],
        &["config", "show", "--format", "json"],
        &["tune", "--qps", "100"],
    ] {
        let (code, stderr) = t.run_into_closed_pipe(args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("error"), "{args:?}: {stderr}");
    }
}
