//! tracing-subscriber configured from `[log]`: a level or a filter
//! expression, console or JSON lines, always on stderr.

use tracing_subscriber::EnvFilter;

use std::sync::atomic::{AtomicU8, Ordering};

use crate::config::{AccessLog, LogConfig, LogFormat};

/// `log.access` of this process, set by [`init`] (0 all, 1 errors, 2 off).
static ACCESS: AtomicU8 = AtomicU8::new(0);

/// Whether a request with this outcome gets an access line (`log.access`).
pub fn access_logged(error: bool) -> bool {
    let mode = match ACCESS.load(Ordering::Relaxed) {
        0 => AccessLog::All,
        1 => AccessLog::Errors,
        _ => AccessLog::Off,
    };
    mode.logs(error)
}

/// Installs the global subscriber. Safe to call more than once (later calls
/// are ignored), which keeps tests that share a process simple.
pub fn init(cfg: &LogConfig) {
    let mode = match cfg.access {
        AccessLog::All => 0,
        AccessLog::Errors => 1,
        AccessLog::Off => 2,
    };
    ACCESS.store(mode, Ordering::Relaxed);
    let filter = EnvFilter::try_new(cfg.filter()).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match cfg.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Console => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}
