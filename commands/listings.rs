//! `users list` and `keys list` as a table, JSON or CSV (raw values: ids,
//! microsecond times, limits as stored).

use std::process::ExitCode;

use tokctl::db::now_us;
use tokctl::identity::lifecycle::KeyState;
use tokctl::identity::{KeyInfo, UserInfo};

use tokctl::identity::budgets::BudgetColumns;

use crate::CmdResult;
use crate::output::{self, Listing};

/// A budget as listed (`50.00/monthly (soft 80%)`), or `none`.
pub fn budget_or(b: &BudgetColumns, none: &str) -> String {
    b.describe().unwrap_or_else(|| none.to_string())
}

/// The CSV columns of a budget (raw values, empty when unset).
pub const BUDGET_CSV: [&str; 4] = [
    "budget_nano",
    "budget_window",
    "budget_soft_percent",
    "budget_anchor_us",
];

/// A budget's raw values for CSV.
pub fn budget_csv(b: &BudgetColumns) -> [String; 4] {
    let o = |v: Option<String>| v.unwrap_or_default();
    [
        o(b.budget_nano.map(|v| v.to_string())),
        o(b.budget_window.clone()),
        o(b.budget_soft_percent.map(|v| v.to_string())),
        o(b.budget_anchor_us.map(|v| v.to_string())),
    ]
}

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
                BUDGET_CSV[0],
                BUDGET_CSV[1],
                BUDGET_CSV[2],
                BUDGET_CSV[3],
            ],
            users.iter().map(|u| {
                let row = [
                    u.id.to_string(),
                    u.name.clone(),
                    u.disabled.to_string(),
                    u.active_keys.to_string(),
                    u.created_at_us.to_string(),
                    u.team.clone().unwrap_or_default(),
                    u.models.clone().unwrap_or_default(),
                ];
                row.into_iter().chain(budget_csv(&u.budget))
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
                BUDGET_CSV[0],
                BUDGET_CSV[1],
                BUDGET_CSV[2],
                BUDGET_CSV[3],
            ],
            keys.iter().map(|k| {
                let o = |v: Option<String>| v.unwrap_or_default();
                let row = [
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
                ];
                row.into_iter().chain(budget_csv(&k.budget))
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
