//! Spend budgets (#34): windows that reset on the calendar or every fixed
//! length, and the reserve-then-settle tally that enforces a limit.
//!
//! What is here is the arithmetic the gateway's admission will call; it
//! is not wired to identities, config or the request path yet, so nothing
//! in the CLI or `config.toml` mentions budgets until it is.

mod tally;
#[cfg(test)]
mod tests;
mod window;

pub use tally::{Admitted, Budget, Crossed, Exceeded, Hold, Scope, Tally};
pub use window::{Period, Window, WindowError, time_zone};
