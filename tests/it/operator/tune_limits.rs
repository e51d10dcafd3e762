//! `tune`'s warnings that keep a recommendation honest: one that does not
//! fit this machine's memory, and a batch derived from the flush chosen.

use crate::support::Tokctl;

#[test]
fn a_recommendation_past_the_machine_memory_is_warned_about() {
    let out = Tokctl::new().run(&["tune", "--qps", "1e9", "--format", "json"]);
    out.expect_code(0);
    assert!(
        out.stderr.contains("more than this machine's"),
        "{}",
        out.stderr
    );
    let out = Tokctl::new().run(&["tune", "--qps", "100", "--format", "json"]);
    out.expect_code(0);
    assert!(!out.stderr.contains("memory"), "{}", out.stderr);
}

#[test]
fn the_batch_follows_the_flush_chosen() {
    let out = Tokctl::new().run(&[
        "tune",
        "--qps",
        "10000",
        "--max-delay-ms",
        "1",
        "--backend",
        "postgres",
        "--db-max-conns",
        "100",
        "--json",
    ]);
    out.expect_code(0);
    let v = super::json(&out);
    let r = &v["recommendation"];
    assert_eq!(r["flush_ms"]["value"], 1, "{r}");
    assert_eq!(r["batch_size"]["value"], 10, "10,000/s × 1 ms: {r}");
}
