//! tokctl: an LLM API gateway with a usage ledger that loses nothing.
//!
//! The library every subcommand shares; the binary in `commands/` only
//! parses arguments, calls in here and renders.

pub mod budget;
pub mod config;
pub mod db;
pub mod errors;
pub mod gateway;
pub mod identity;
pub mod ledger;
pub mod loadtest;
pub mod pricing;
pub mod providers;
pub mod ratelimit;
pub mod telemetry;
pub mod translate;
pub mod tune;
