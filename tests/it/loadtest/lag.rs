//! The open loop's own lag, through the real binary: a level whose
//! requests went out late (behind schedule p99 over 0.5 ms) says so with
//! the cores and threads it had and what to change, and fails `--fail-on`
//! even when every bound about the target holds.

use super::*;

/// 100/s of 50 ms answers need about 5 connections; one is given, so the
/// requests queue for it and go out ever later: the run measured its own
/// connection, not the upstream.
fn starved() -> String {
    let (url, _) = upstream(Behaviour {
        delay: Duration::from_millis(50),
        ..Default::default()
    });
    url
}

#[test]
fn a_generator_behind_schedule_is_warned_about_in_the_report() {
    let url = starved();
    let out = Tokctl::new().run(&["loadtest", &url, "--rate", "100", "-c", "1", "-d", "1s"]);
    assert_eq!(out.code, 0, "a warning, not a failure: {}", out.stderr);
    assert!(
        out.stdout
            .contains("warning: c=1 at 100/s: the generator sent late"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Every connection was busy: raise -c to"),
        "{}",
        out.stdout
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        out.stdout
            .contains(&format!("{cores} CPU cores, 1 load threads")),
        "the generator line names the cores and threads: {}",
        out.stdout
    );
}

#[test]
fn fail_on_exits_1_when_the_generator_fell_behind() {
    let url = starved();
    let out = Tokctl::new().run(&[
        "loadtest",
        &url,
        "--rate",
        "100",
        "-c",
        "1",
        "-d",
        "1s",
        "--fail-on",
        "p99>1h",
    ]);
    assert_eq!(
        out.code, 1,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    assert!(
        out.stderr
            .contains("generator behind schedule: c=1 at 100/s"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("threshold crossed"),
        "no bound was crossed: {}",
        out.stderr
    );
    // A closed loop has no schedule to fall behind: the same target and
    // connection pass the same bound.
    let closed = Tokctl::new().run(&[
        "loadtest",
        &url,
        "-c",
        "1",
        "-d",
        "1s",
        "--fail-on",
        "p99>1h",
    ]);
    assert_eq!(closed.code, 0, "{}", closed.stderr);
}

#[test]
fn json_keeps_stdout_parseable_and_warns_on_stderr() {
    let url = starved();
    let out = Tokctl::new().run(&[
        "loadtest", &url, "--rate", "100", "-c", "1", "-d", "1s", "--json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("--json prints JSON");
    let ol = &v["runs"][0]["open_loop"];
    assert_eq!(ol["threads"], 1, "{ol}");
    assert!(ol["cpu_cores"].as_u64().expect("cpu_cores") >= 1, "{ol}");
    let behind = ol["behind_ms"]["p99"].as_f64().expect("behind p99");
    assert!(behind > 0.5, "{ol}");
    assert!(
        out.stderr.contains("warning: c=1 at 100/s"),
        "{}",
        out.stderr
    );
}
