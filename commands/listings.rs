//! `users list` and `keys list` as a table, JSON or CSV (raw values: ids,
//! microsecond times, limits as stored).

use std::process::ExitCode;

use tokctl::db::now_us;
use tokctl::identity::lifecycle::KeyState;
use tokctl::identity::{KeyInfo, UserInfo};

use crate::CmdResult;
use crate::output::{self, Listing};

/// `users list` in the chosen format.
pub fn users(users: &[UserInfo], format: Listing) -> CmdResult {
    match format {
        Listing::Table => output::print(&crate::tables::users(users).to_string())?,
        Listing::Json => output::json(users)?,
        Listing::Csv => output::csv(
            &[
                "id",
                "name",
                "disabled",
                "active_keys",
                "created_at_us",
                "team",
                "models",
            ],
            users.iter().map(|u| {
                [
                    u.id.to_string(),
                    u.name.clone(),
                    u.disabled.to_string(),
                    u.active_keys.to_string(),
                    u.created_at_us.to_string(),
                    u.team.clone().unwrap_or_default(),
                    u.models.clone().unwrap_or_default(),
                ]
            }),
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `keys list` in the chosen format; JSON and CSV add each key's state now.
pub fn keys(keys: &[KeyInfo], format: Listing) -> CmdResult {
    let now = now_us();
    let state = |k| KeyState::of(k, now).as_str();
    match format {
        Listing::Table => output::print(&crate::tables::keys(keys, now).to_string())?,
        Listing::Json => output::json(
            &keys
                .iter()
                .map(|key| Listed {
                    key,
                    state: state(key),
                })
                .collect::<Vec<_>>(),
        )?,
        Listing::Csv => output::csv(
            &[
                "id",
                "user",
                "name",
                "prefix",
                "state",
                "created_at_us",
                "expires_at_us",
                "revoked_at_us",
                "rps",
                "burst",
                "tpm",
                "models",
            ],
            keys.iter().map(|k| {
                let o = |v: Option<String>| v.unwrap_or_default();
                [
                    k.id.to_string(),
                    k.user_name.clone(),
                    k.name.clone(),
                    k.display_prefix.clone(),
                    state(k).to_string(),
                    k.created_at_us.to_string(),
                    o(k.expires_at_us.map(|v| v.to_string())),
                    o(k.revoked_at_us.map(|v| v.to_string())),
                    o(k.rps.map(|v| v.to_string())),
                    o(k.burst.map(|v| v.to_string())),
                    o(k.tokens_per_minute.map(|v| v.to_string())),
                    o(k.models.clone()),
                ]
            }),
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A key in JSON: its fields and its state now.
#[derive(serde::Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    key: &'a KeyInfo,
    state: &'static str,
}
