//! `tokctl tune --verify`: checking a recommendation against a real
//! gateway. [`run`] starts `tokctl serve` with the config [`config_toml`]
//! writes ([`child`]), drives load at the target rate and samples
//! `/metrics`, reads what it saw ([`scrape`]) and judges it ([`judge`]);
//! [`Verified::text`] is the report for people. Nothing here prints.

mod child;
pub mod judge;
mod run;
pub mod scrape;
pub mod setup;
mod text;

use std::path::PathBuf;

pub use judge::{Check, Observed, Outcome, PEAK_LIMIT, SAMPLE_SLACK_MS, judge};
pub use run::{Verified, run};
pub use scrape::{metric, quantile, shutdown_counts};
pub use setup::{MAX_SECONDS, Override, async_values, check_seconds, config_toml, parse_override};

/// A bad `--verify-override` or `--verify-seconds`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "--verify-override `{0}`: expected KEY=VALUE with KEY one of batch_size, flush_ms, buffer_size, num_workers, on_full"
    )]
    BadOverride(String),
    #[error("--verify-seconds must be in (0, {MAX_SECONDS}], got {0}")]
    BadSeconds(f64),
}

/// Why a verify run could not be made (a run that is made but does not
/// keep up is an [`Outcome`], not an error).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Usage(#[from] VerifyError),
    #[error("cannot create a temp dir: {0}")]
    TempDir(#[source] std::io::Error),
    #[error("cannot write {}: {source}", path.display())]
    WriteConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Dsn(#[from] crate::db::DsnError),
    #[error("cannot start tokctl serve: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("no stderr from tokctl serve")]
    NoStderr,
    #[error("tokctl serve did not report its address; it said: {0}")]
    NoAddress(String),
    #[error(transparent)]
    Load(#[from] crate::loadtest::LoadError),
    #[error("the load generator returned no report")]
    NoReport,
    #[error("tokctl serve did not stop within 30 s of SIGTERM")]
    StopTimeout,
    #[error("waiting for tokctl serve: {0}")]
    Wait(#[source] std::io::Error),
    #[error("counting ledger rows")]
    Count(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl RunError {
    /// The caller gave a bad value (exit 2), rather than the run failing.
    pub fn is_usage(&self) -> bool {
        matches!(self, RunError::Usage(_))
    }
}
