//! `[budgets]`: how spend budgets are counted and what happens when their
//! shared store fails. The budgets themselves are set on keys, users and
//! teams (`tokctl keys update … --budget 50`); this section only says in
//! which time zone calendar windows turn over and how the gateway behaves
//! when Redis, which shares the spend across instances, is unreachable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Config, ConfigError, Source};

/// What admission does with a budget when its shared store (Redis) fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnStoreFailure {
    /// Each instance enforces from the last spend it knew plus its own
    /// spend since (counted and logged): a budget can then be overspent by
    /// at most the other instances' spend during the outage.
    Local,
    /// Requests that carry a budget are refused with 503 until Redis answers.
    Refuse,
}

/// `[budgets]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetsConfig {
    /// IANA zone in which daily, weekly and monthly windows begin at midnight.
    pub timezone: String,
    /// `local` or `refuse`, see [`OnStoreFailure`].
    pub on_store_failure: OnStoreFailure,
    /// How often the shared spend is compared with the ledger (drift metric
    /// and log); 0 turns the comparison off.
    pub reconcile_interval_ms: u64,
}

impl Default for BudgetsConfig {
    fn default() -> Self {
        Self {
            timezone: "UTC".into(),
            on_store_failure: OnStoreFailure::Local,
            reconcile_interval_ms: 60_000,
        }
    }
}

/// The checks `validate` runs on `[budgets]`: the zone must be an IANA name.
pub(super) fn check(c: &Config, sources: &BTreeMap<String, Source>) -> Result<(), ConfigError> {
    let key = "budgets.timezone";
    if let Err(e) = crate::budget::time_zone(&c.budgets.timezone) {
        return Err(ConfigError::Invalid {
            source_name: sources.get(key).cloned().unwrap_or(Source::Default),
            key: key.into(),
            message: e.to_string(),
        });
    }
    let key = "budgets.reconcile_interval_ms";
    if c.budgets.reconcile_interval_ms != 0 && c.budgets.reconcile_interval_ms < 1000 {
        return Err(ConfigError::Invalid {
            source_name: sources.get(key).cloned().unwrap_or(Source::Default),
            key: key.into(),
            message: format!(
                "{} ms would query the ledger too often: use 0 (off) or at least 1000",
                c.budgets.reconcile_interval_ms
            ),
        });
    }
    Ok(())
}
