//! `tokctl tune --verify`: runs `tokctl::tune::verify` against this
//! executable's `tokctl serve` and prints its report (exit 1 when the
//! ledger did not keep up).

use std::process::ExitCode;

use tokctl::tune::Recommendation;
use tokctl::tune::verify::{self, Override};

use crate::output;
use crate::{CmdResult, Failure, exit};

/// Verifies `rec` for `seconds`; exit 0 when it kept up.
pub async fn run(
    rec: &Recommendation,
    configured_ledger: &str,
    seconds: f64,
    overrides: &[Override],
    json: bool,
) -> CmdResult {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::new(exit::FAILURE, format!("cannot find this executable: {e}")))?;
    let verified = verify::run(&exe, rec, configured_ledger, seconds, overrides)
        .await
        .map_err(|e| Failure::of(&e, e.is_usage()))?;
    if json {
        output::json(&verified.outcome)?;
    } else {
        output::print(&verified.text())?;
    }
    Ok(if verified.outcome.kept_up {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILURE)
    })
}
