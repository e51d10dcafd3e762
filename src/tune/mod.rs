//! `tokctl tune`: from a target rate to settings for the ledger writer and
//! the database pool, each with the reason it has its value.
//!
//! Pure functions only: [`model`] holds the seed's table as a smooth curve,
//! [`recommend`](model::recommend) applies the constraints (cores, the
//! database's connection budget shared by `--instances`, the delay bound,
//! the memory budget, SQLite's single writer) and [`output`] turns a
//! [`Recommendation`] into the config's TOML or `export` lines; [`edit`]
//! writes it into a config file, keeping its comments. Measuring
//! the real database lives in [`measure`]; nothing here prints.

pub mod bytes;
pub mod edit;
pub mod measure;
pub mod memory;
pub mod model;
pub mod output;
pub mod plan;
pub mod verify;

pub use bytes::{parse_bytes, representative_entry_bytes};
pub use model::{Inputs, Reasoned, Recommendation, Spool, TuneError, recommend, worker_cap};
