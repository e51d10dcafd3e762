//! Item 9: one meaning per flag name: `--since` is a time (verify's
//! sequence number is `--from-seq`), `--key` takes an id or a display
//! prefix, `--fail-on` and `--slo` say what they mean.

use super::{json, ledger_row, tokctl_on};
use crate::support::{TestDb, Tokctl};

#[tokio::test]
async fn verify_takes_from_seq_and_refuses_a_sequence_as_since() {
    let t = TestDb::sqlite();
    let run = tokctl_on(&t);
    run.run(&["migrate"]).expect_code(0);
    let out = run.run(&["ledger", "verify", "--since", "5"]);
    out.expect_code(2);
    assert!(out.stderr.contains("--from-seq 5"), "{}", out.stderr);
    let out = run.run(&["ledger", "verify", "--since", "yesterday-ish"]);
    out.expect_code(2);
    assert!(out.stderr.contains("RFC 3339"), "{}", out.stderr);
    run.run(&["ledger", "verify", "--since", "24h"])
        .expect_code(0);
    run.run(&["ledger", "verify", "--from-seq", "5"])
        .expect_code(0);
}

dbtest!(key_filter_takes_an_id_or_a_prefix, |t| {
    let run = tokctl_on(&t);
    run.run(&["users", "create", "alice"]).expect_code(0);
    let a = run.run(&["keys", "create", "--user", "alice"]);
    a.expect_code(0);
    run.run(&["keys", "create", "--user", "alice"])
        .expect_code(0);
    let keys = json(run.run(&["keys", "list", "--json"]).expect_code(0));
    let (id_a, id_b) = (
        keys[0]["id"].as_i64().expect("id"),
        keys[1]["id"].as_i64().expect("id"),
    );
    let user = keys[0]["user_id"].as_i64().expect("user id");
    ledger_row(&t, "r1", user, "alice", id_a).await;
    ledger_row(&t, "r2", user, "alice", id_b).await;
    ledger_row(&t, "r3", user, "alice", id_b).await;
    let prefix = &a.stdout.trim()[..tokctl::identity::keys::DISPLAY_PREFIX_CHARS];
    for key in [prefix.to_string(), id_a.to_string()] {
        let s = json(
            run.run(&["ledger", "summary", "--key", &key, "--json"])
                .expect_code(0),
        );
        assert_eq!(s[0]["requests"], 1, "--key {key}: {s}");
        let e = run.run(&["ledger", "export", "--key", &key, "--format", "jsonl"]);
        e.expect_code(0);
        assert_eq!(e.stdout.lines().count(), 1, "--key {key}: {}", e.stdout);
    }
    let out = run.run(&["ledger", "summary", "--key", "tok_nothere00"]);
    out.expect_code(1);
    assert!(out.stderr.contains("no API key"), "{}", out.stderr);
});

#[test]
fn fail_on_and_slo_say_what_they_mean() {
    let out = Tokctl::new().run(&["loadtest", "--help"]);
    out.expect_code(0);
    let h = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(h.contains("Conditions that FAIL the run"), "{}", out.stdout);
    assert!(h.contains("--fail-on \"p99>50ms"), "{}", out.stdout);
    assert!(
        h.contains("Bounds each request must MEET"),
        "{}",
        out.stdout
    );
    assert!(h.contains("--slo \"ttft<500ms"), "{}", out.stdout);
}
