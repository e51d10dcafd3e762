//! Issue #30's conventions through the real binary: one output flag
//! ([`formats`]), durations with units and config errors in words
//! ([`durations`]), one meaning per flag name ([`flags`]), and the users'
//! and keys' lifecycle ([`lifecycle`]).

mod durations;
mod flags;
mod formats;
mod lifecycle;
mod tune_limits;

use crate::support::{TestDb, Tokctl};

/// A run whose identity and ledger database is `t`.
pub fn tokctl_on(t: &TestDb) -> Tokctl {
    Tokctl::new()
        .env("TOKCTL_LEDGER_PATH", &t.dsn)
        .env("TOKCTL_IDENTITY_PATH", &t.dsn)
}

/// Parses a run's stdout as JSON, showing it when it is not.
pub fn json(out: &crate::support::bin::Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\n{}", out.stdout, out.stderr))
}

/// One ledger row of `user_id` through `key_id`, written behind the gateway.
pub async fn ledger_row(t: &TestDb, request_id: &str, user_id: i64, user: &str, key_id: i64) {
    t.execute(&format!(
        "INSERT INTO usage_entries (request_id, created_at_us, user_id, user_name, api_key_id, \
         endpoint, model, provider, token_source, latency_us, status_code, streamed) \
         VALUES ('{request_id}', {}, {user_id}, '{user}', {key_id}, 'chat', 'gpt-4o-mini', 'mock', \
         'upstream', 1000, 200, FALSE)",
        tokctl::db::now_us()
    ))
    .await;
}
