//! Item 4 of issue 30: `loadtest` defaults that measured nothing. The model
//! defaults to one the target serves, a run whose first answers are all
//! refusals stops early with exit 1 (and leaves few ledger rows), a level
//! whose every request failed exits 1, and `TOKCTL_API_KEY` is not reported
//! as an unknown setting.

use super::{Behaviour, upstream};
use crate::gateway::harness::Gateway;
use crate::support::{TestDb, Tokctl};

#[tokio::test]
async fn the_model_defaults_to_one_the_gateway_serves() {
    let db = TestDb::sqlite();
    let gw = Gateway::start(&db.dsn, "");
    let key = gw.key.clone().expect("bootstrap key");
    let url = gw.url("/v1/chat/completions");
    // A configuration without models: the first one the server's
    // /v1/models lists.
    let out = Tokctl::new()
        .config("models = []\n")
        .env("TOKCTL_API_KEY", &key)
        .run(&["loadtest", &url, "-n", "20", "-c", "2", "--json"]);
    out.expect_code(0);
    assert!(out.stderr.contains("model: "), "{}", out.stderr);
    assert!(out.stderr.contains("/v1/models lists"), "{}", out.stderr);
    assert!(
        !out.stderr
            .contains("TOKCTL_API_KEY is not a tokctl setting"),
        "TOKCTL_API_KEY is reserved: {}",
        out.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["runs"][0]["status_codes"]["200"], 20, "{v}");
    // The gateway's own address (no URL): the first [[models]] entry.
    let own = Tokctl::new()
        .config(&format!("[server]\nlisten = \"{}\"\n", gw.addr))
        .env("TOKCTL_API_KEY", &key);
    let out = own.run(&["loadtest", "-n", "10", "-c", "1", "--json"]);
    out.expect_code(0);
    assert!(
        out.stderr
            .contains("model: gpt-4o-mini (the first [[models]] entry"),
        "{}",
        out.stderr
    );
    let (code, lines) = gw.stop();
    assert_eq!(code, 0, "{lines:?}");
}

#[tokio::test]
async fn a_run_of_refusals_stops_early_and_exits_1() {
    let db = TestDb::sqlite();
    let gw = Gateway::start(&db.dsn, "");
    let key = gw.key.clone().expect("bootstrap key");
    let url = gw.url("/v1/chat/completions");
    // No key: every answer is 401. A 30 s run must stop long before the
    // harness's 60 s limit.
    let out = Tokctl::new().run(&["loadtest", &url, "--model", "gpt-4o-mini", "-d", "30s"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("stopped early") && out.stderr.contains("401 ×"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("TOKCTL_API_KEY"),
        "says where a key goes: {}",
        out.stderr
    );
    // A model the gateway does not serve: 404s, stopped, and only a handful
    // of them billed.
    let out = Tokctl::new().env("TOKCTL_API_KEY", &key).run(&[
        "loadtest",
        &url,
        "--model",
        "no-such-model",
        "-d",
        "30s",
        "-c",
        "4",
    ]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("stopped early") && out.stderr.contains("404 ×"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--model"), "{}", out.stderr);
    let (code, lines) = gw.stop();
    assert_eq!(code, 0, "{lines:?}");
    let rows = db.scalar("SELECT count(*) FROM usage_entries").await;
    assert!(rows <= 40, "{rows} ledger rows for a stopped run");
}

#[test]
fn a_level_where_every_request_failed_exits_1() {
    // 500s are not refusals (no early stop), but nothing succeeded.
    let (url, _) = upstream(Behaviour {
        fail_every: Some(1),
        ..Default::default()
    });
    let out = Tokctl::new().run(&["loadtest", &url, "--model", "m", "-n", "15", "-c", "1"]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("every request of level -c 1 failed (500 ×15)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("500"),
        "the report is still printed: {}",
        out.stdout
    );
}
