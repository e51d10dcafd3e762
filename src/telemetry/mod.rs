//! Logging setup (tracing), shared by every subcommand.
//!
//! Logs go to stderr so that stdout stays for a command's output
//! (`keys create` prints the key alone on stdout).

pub mod logging;
