//! The load engine behind `tokctl loadtest`: closed loop (fixed concurrency,
//! optionally a sweep of levels) and open loop (constant arrival rate, with
//! latency measured from each request's intended start), HDR histograms per
//! worker, and the report, threshold and comparison logic built on them.
//!
//! It never prints and never exits: progress goes to a callback, results come
//! back as [`Report`]s, and the command in `commands/loadtest.rs` renders
//! them. `http://` and `https://` targets are driven over one HTTP/1.1
//! connection per concurrency slot (TLS by rustls for https), polled in the
//! worker's own task.

mod body;
mod compare;
mod conn;
mod criteria;
mod defaults;
mod early;
mod engine;
mod hdrlog;
mod lag;
mod pace;
mod setup;
mod sse;
mod stats;
mod target;
mod tls;
mod worker;

use std::time::Duration;

pub use body::{BodyError, RunFile, RunOptions, body_file, chat_body};
pub use compare::{CompareRow, Comparison, compare};
pub use criteria::{Criteria, CriteriaError, Verdict};
pub use defaults::{ModelChoice, all_failed, default_model};
pub use early::EARLY_ANSWERS;
pub use engine::{Tick, cpu_cores, run};
pub use hdrlog::write_hdr_log;
pub use lag::{GeneratorLag, MAX_BEHIND_P99_MS, Remedy, lag_failures};
pub use setup::{Aim, BodySource, prepare};
pub use stats::{ErrorKind, Latency, OpenLoop, Rate, Report, Results, Seconds, StreamStats};
pub use target::{Target, default_url};

/// How long a run lasts: a wall-clock budget or an exact request count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// Measure for this long (after the warmup).
    Duration(Duration),
    /// Measure exactly this many requests (after the warmup).
    Requests(u64),
}

/// What to run. One level per entry of `concurrency` (a sweep when several).
#[derive(Debug, Clone)]
pub struct Plan {
    /// Where and what to send.
    pub target: Target,
    /// Connections (one per concurrency slot); several values make a sweep.
    pub concurrency: Vec<usize>,
    /// `Some(r)`: open loop at `r` requests per second; `None`: closed loop.
    pub rate: Option<f64>,
    /// When each level stops.
    pub stop: Stop,
    /// Traffic sent before measuring, per level, on the same connections.
    pub warmup: Duration,
    /// A request taking longer than this counts as a `timeout` error.
    pub timeout: Duration,
    /// Parse the answers as server-sent events (TTFT, inter-token latency, tokens).
    pub stream: bool,
    /// Per-request bounds for goodput (`--slo`); empty means no goodput.
    pub slo: Criteria,
    /// Keep one histogram per second of each level (for `--hdr-out`).
    pub keep_intervals: bool,
    /// Load threads, each a single-threaded runtime driving its share of
    /// the connections (as wrk's `-t`); `None`: one per core. Never more
    /// than the connections.
    pub threads: Option<usize>,
}

impl Plan {
    /// Checks the plan without sending anything, so a caller can refuse it
    /// before preparing output files: at least one connection per level, a
    /// positive rate, and `ttft`/`itl` goodput bounds only on streamed runs.
    pub fn validate(&self) -> Result<(), LoadError> {
        if self.concurrency.is_empty() || self.concurrency.contains(&0) {
            return Err(LoadError::Plan("concurrency must be at least 1".into()));
        }
        if self.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
            return Err(LoadError::Plan("--rate must be a positive number".into()));
        }
        self.slo.require_stream(self.stream, "--slo")
    }
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The URL is not something the engine can drive.
    #[error("bad target URL `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    /// Nothing answers at the target's address.
    #[error("target {addr} is unreachable")]
    Unreachable {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The target answers but the TLS handshake fails (often a certificate
    /// the roots do not vouch for).
    #[error("TLS handshake with {addr} failed (a self-signed certificate needs --insecure)")]
    Tls {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The plan itself is inconsistent (zero concurrency, zero rate…).
    #[error("invalid load plan: {0}")]
    Plan(String),
    /// The first answers were all refusals (see `early.rs`): stopped.
    #[error("{0}")]
    Refused(String),
    /// The body file cannot be read or is not a JSON object.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// No `--model` and none could be found (config or the server's list).
    #[error("no model to ask for: {0}")]
    NoModel(String),
    /// Writing the per-second histogram log failed.
    #[error("cannot write the histogram log {path}")]
    HdrLog {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl LoadError {
    /// Whether the error is the user's input (exit 2) rather than the target (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            LoadError::BadUrl { .. }
                | LoadError::Plan(_)
                | LoadError::Body(_)
                | LoadError::NoModel(_)
        )
    }
}
