//! Spend budgets (#34): windows that reset on the calendar or every fixed
//! length, the reserve-then-settle tally that enforces a limit in one
//! process, and the spend a process has settled but the ledger does not
//! hold yet ([`Unwritten`]), which a rebuild of the shared state adds back.
//!
//! The shared (Redis) side lives with the rate limits in `ratelimit`, so
//! that one script admits a request against both.

mod tally;
#[cfg(test)]
mod tests;
mod unwritten;
mod window;

use std::sync::Arc;

pub use tally::{Admitted, Budget, Crossed, Exceeded, Hold, Scope, Tally};
pub use unwritten::Unwritten;
pub use window::{Period, Window, WindowError, time_zone};

/// What admission asks of the budgets: the principal's budgets and what
/// the request may cost at most, in nano-units.
#[derive(Debug, Clone)]
pub struct Ask {
    pub budgets: Arc<[Budget]>,
    pub estimate_nano: i64,
}
