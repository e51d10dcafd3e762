//! Auth through the real binary as an administrator changes things under
//! it with the CLI: a revoked key and a disabled user are refused within
//! `auth.cache_ttl_ms` (401 and 403), an expired key as soon as it expires
//! (401), and none of these refusals writes a ledger entry. With the
//! identity database down, cached keys keep working and uncached ones get
//! 503, not 401.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::cases::client;
use super::harness::Gateway;
use super::ledger_rows::rows;
use crate::support::Tokctl;

/// The auth cache TTL the gateways here run with.
const TTL: Duration = Duration::from_millis(1000);

/// An admin CLI on the given identity database (and ledger, which the
/// identity commands do not touch).
fn admin(identity_dsn: &str, ledger_dsn: &str) -> Tokctl {
    Tokctl::new()
        .env("TOKCTL_IDENTITY_PATH", identity_dsn)
        .env("TOKCTL_LEDGER_PATH", ledger_dsn)
}

/// `keys create` prints the key alone on stdout.
fn create_key(cli: &Tokctl, user: &str, extra: &[&str]) -> String {
    let mut args = vec!["keys", "create", "--user", user];
    args.extend_from_slice(extra);
    let out = cli.run(&args);
    out.expect_code(0);
    out.stdout.trim().to_string()
}

/// One chat completion through the mock with `key`; status and JSON body.
async fn call(gw: &Gateway, key: &str) -> (u16, Value) {
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Calls with `key` every 50 ms until the answer is not 200 or `within`
/// has passed; returns the refusal, when it came (from `since`) and how
/// many calls were answered 200 on the way (each leaves an entry).
async fn until_refused(
    gw: &Gateway,
    key: &str,
    since: Instant,
    within: Duration,
) -> (u16, Value, Duration, usize) {
    let mut answered = 0;
    loop {
        let (status, body) = call(gw, key).await;
        if status != 200 {
            return (status, body, since.elapsed(), answered);
        }
        answered += 1;
        assert!(
            since.elapsed() < within,
            "still accepted {:?} after the change",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Revoked → 401, user disabled → 403, expired → 401, each refused within
/// the cache TTL (plus slack for a busy machine) although the key was
/// cached; the ledger holds exactly the requests answered 200.
pub async fn revoked_disabled_expired_are_refused(dsn: String) {
    let extra = format!("[auth]\ncache_ttl_ms = {}\n", TTL.as_millis());
    let gw = Gateway::start(&dsn, &extra);
    let cli = admin(&dsn, &dsn);
    cli.run(&["users", "create", "alice"]).expect_code(0);
    cli.run(&["users", "create", "bob"]).expect_code(0);
    let to_revoke = create_key(&cli, "alice", &["--name", "revoke-me"]);
    let of_bob = create_key(&cli, "bob", &[]);
    let expiry = Duration::from_secs(4);
    let created = Instant::now();
    let to_expire = create_key(&cli, "alice", &["--expires", "4s"]);
    let mut answered = 0;
    // Each key works, and is now in the gateway's cache.
    for k in [&to_revoke, &of_bob, &to_expire] {
        assert_eq!(call(&gw, k).await.0, 200);
        answered += 1;
    }

    let slack = TTL + Duration::from_millis(1500);
    cli.run(&["keys", "revoke", &to_revoke]).expect_code(0);
    let revoked_at = Instant::now();
    let (status, body, after, n) = until_refused(&gw, &to_revoke, revoked_at, slack).await;
    answered += n;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["type"], "authentication_error", "{body}");
    assert_eq!(body["error"]["code"], "revoked", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("revoked"),
        "{body}"
    );
    assert!(after < slack, "revocation took {after:?}");

    cli.run(&["users", "disable", "bob"]).expect_code(0);
    let disabled_at = Instant::now();
    let (status, body, after, n) = until_refused(&gw, &of_bob, disabled_at, slack).await;
    answered += n;
    assert_eq!(
        status, 403,
        "a disabled user is known but not allowed: {body}"
    );
    assert_eq!(body["error"]["type"], "permission_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("`bob`"),
        "{body}"
    );
    assert!(after < slack, "disabling took {after:?}");
    // Anthropic's shape on /v1/messages, same refusal.
    let r = client()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", &of_bob)
        .json(&json!({"model": "claude-sonnet-4", "max_tokens": 5,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.expect("json");
    assert_eq!(
        (v["type"].as_str(), v["error"]["type"].as_str()),
        (Some("error"), Some("permission_error")),
        "{v}"
    );

    // The expiring key, cached since its first use, stops at its expiry.
    let (status, body, after, n) =
        until_refused(&gw, &to_expire, created, expiry + Duration::from_secs(2)).await;
    answered += n;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "expired", "{body}");
    assert!(
        after >= expiry - Duration::from_millis(200),
        "refused {after:?} after creation, before its expiry"
    );

    // The other keys of alice's are untouched: one more 200.
    let fresh = create_key(&cli, "alice", &[]);
    assert_eq!(call(&gw, &fresh).await.0, 200);
    answered += 1;

    assert_eq!(gw.stop().0, 0);
    let rows = rows(&dsn).await;
    assert_eq!(
        rows.len(),
        answered,
        "one entry per answered request, none for refusals: {rows:?}"
    );
    assert!(rows.iter().all(|r| r.status_code == 200), "{rows:?}");
}

crate::dbtest!(revoked_disabled_expired_keys_are_refused_in_time, |db| {
    revoked_disabled_expired_are_refused(db.dsn.clone()).await;
});

/// Identity on a PostgreSQL the test stops, ledger on SQLite: while the
/// identity database is down a cached key keeps working (also past its
/// TTL), a key that exists but was never looked up and an unknown key get
/// 503; once it is back, the uncached key works. Only 200s are recorded.
#[tokio::test]
async fn identity_database_down_serves_cached_keys_and_refuses_others_with_503() {
    let cluster = crate::support::pg::private();
    let identity = cluster.fresh_database().await;
    let ledger = crate::support::TestDb::sqlite();
    let extra = format!("[auth]\ncache_ttl_ms = {}\n", TTL.as_millis());
    let gw = Gateway::start_split(&ledger.dsn, &identity, &extra, &[]);
    let cached = gw.key.clone().expect("bootstrap key");
    let cli = admin(&identity, &ledger.dsn);
    let uncached = create_key(&cli, "admin", &[]);
    let mut answered = 0;
    assert_eq!(call(&gw, &cached).await.0, 200);
    answered += 1;

    cluster.stop();
    let (status, _) = call(&gw, &cached).await;
    assert_eq!(status, 200, "a cached key works without the database");
    answered += 1;
    for (what, key) in [
        ("an existing key not yet cached", uncached.as_str()),
        ("an unknown key", "tok_notarealkey0000000000000000000000"),
    ] {
        let (status, body) = call(&gw, key).await;
        assert_eq!(status, 503, "{what}: {body}");
        assert_eq!(body["error"]["code"], "unavailable", "{what}: {body}");
    }
    // Past the TTL the stale entry still answers while the database is down.
    tokio::time::sleep(TTL + Duration::from_millis(300)).await;
    let (status, body) = call(&gw, &cached).await;
    assert_eq!(status, 200, "stale but served: {body}");
    answered += 1;

    cluster.restart();
    // After the outage back-off (1 s) the database is asked again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = call(&gw, &uncached).await;
        if status == 200 {
            answered += 1;
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            Instant::now() < deadline,
            "the key still fails after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    assert_eq!(gw.stop().0, 0);
    let rows = rows(&ledger.dsn).await;
    assert_eq!(rows.len(), answered, "{rows:?}");
    assert!(rows.iter().all(|r| r.status_code == 200), "{rows:?}");
}
