//! Item 3: a key's own limits are not enforced while
//! `rate_limit.enabled = false`, and both `keys create` and `serve` say so
//! (decided: warn, so that `enabled = false` stays one switch for every limit).

use crate::support::Tokctl;

const WARNING: &str = "NOT enforced while rate_limit.enabled = false";

#[test]
fn keys_create_warns_when_its_limits_are_not_enforced() {
    let run = Tokctl::new().config("[auth]\ncache_ttl_ms = 1000\n");
    run.run(&["users", "create", "alice"]).expect_code(0);
    let out = run.run(&[
        "keys", "create", "--user", "alice", "--rps", "2", "--burst", "3",
    ]);
    out.expect_code(0);
    assert!(
        out.stdout.trim().starts_with("tok_"),
        "the key still prints alone: {}",
        out.stdout
    );
    assert!(
        out.stderr.contains("1 API key carries its own limits") && out.stderr.contains(WARNING),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("TOKCTL_RATE_LIMIT_ENABLED=true"),
        "{}",
        out.stderr
    );
    // A key without limits, or limits with enforcement on: nothing to say.
    let plain = run.run(&["keys", "create", "--user", "alice"]);
    plain.expect_code(0);
    assert!(!plain.stderr.contains(WARNING), "{}", plain.stderr);
    let on = Tokctl::new()
        .config("[rate_limit]\nenabled = true\n")
        .env("TOKCTL_AUTH_BOOTSTRAP_ADMIN", "false");
    on.run(&["users", "create", "bob"]).expect_code(0);
    let out = on.run(&["keys", "create", "--user", "bob", "--tpm", "1000"]);
    out.expect_code(0);
    assert!(!out.stderr.contains(WARNING), "{}", out.stderr);
}

#[test]
fn serve_warns_at_start_about_keys_whose_limits_are_not_enforced() {
    let run = Tokctl::new().config("[auth]\ncache_ttl_ms = 1000\n");
    run.run(&["users", "create", "alice"]).expect_code(0);
    for _ in 0..2 {
        run.run(&["keys", "create", "--user", "alice", "--tpm", "500"])
            .expect_code(0);
    }
    let revoked = run.run(&["keys", "create", "--user", "alice", "--rps", "1"]);
    revoked.expect_code(0);
    run.run(&["keys", "revoke", revoked.stdout.trim()])
        .expect_code(0);
    // serve stops at once on a port already taken, after its start checks.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = run.run(&["serve", "--listen", &addr]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("2 API keys carry their own limits") && out.stderr.contains(WARNING),
        "revoked keys are not counted: {}",
        out.stderr
    );
}
