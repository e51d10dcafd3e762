//! Logging, metrics and health, shared by every subcommand.
//!
//! Logs go to stderr so that stdout stays for a command's output
//! (`keys create` prints the key alone on stdout). Metric names live in
//! [`names`], the registry and recording in [`metrics`], the health
//! report, the [`health::HealthCheck`] trait each component implements
//! beside itself, and the gatherer in [`health`] (what `tokctl health`
//! does with a report in [`check`]), and the HTTP routes that expose both
//! in [`endpoints`].

pub mod check;
pub mod endpoints;
pub mod health;
pub mod logging;
pub mod metrics;
pub mod names;

pub use endpoints::{MetricsPlace, Telemetry, metrics_place};
