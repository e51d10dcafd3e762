//! The cap on open client connections (`server.max_connections`).
//!
//! Why: every connection is a file descriptor, and so is the upstream
//! connection its request may hold. Past the process's open-file limit
//! `accept` fails (`EMFILE`) and the connection waits in the kernel's
//! backlog, unanswered, along with every normal request behind it. Kept
//! below that limit, the accept loop always gets the descriptor, and a
//! connection beyond the cap is closed at once instead — counted in
//! `tokctl_connections_refused_total` and logged at most once a second —
//! while the connections already open (a load balancer's pooled ones) keep
//! answering.
//!
//! Holds the count and its guard ([`Slot`]); the accept loop in
//! [`super::workers`] asks [`Gate::admit`] for each connection.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntGauge};

use crate::config::Config;

/// Descriptors kept for everything but client and upstream connections:
/// listeners, the spool and head files, logs, the runtime's own.
const RESERVED_FDS: u64 = 128;

/// The cap to use: `server.max_connections`, or, when 0, half of what the
/// open-file limit leaves after the database pools and [`RESERVED_FDS`]
/// (half, because each client connection may hold an upstream one), with
/// the limit it came from.
pub fn max_connections(c: &Config) -> (usize, Option<u64>) {
    if c.server.max_connections > 0 {
        return (c.server.max_connections, None);
    }
    let limit = open_file_limit().unwrap_or(1024);
    let pools = u64::from(c.db.max_open_conns) + u64::from(c.db.identity_max_open_conns);
    let spare = limit.saturating_sub(RESERVED_FDS + pools) / 2;
    let cap = usize::try_from(spare)
        .unwrap_or(usize::MAX)
        .clamp(16, 1 << 20);
    (cap, Some(limit))
}

/// The soft `RLIMIT_NOFILE` of this process (`None` when unknown).
#[cfg(unix)]
fn open_file_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit` into the struct it is given,
    // which lives for the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) };
    (rc == 0).then_some(lim.rlim_cur)
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}

/// Counts open client connections against the cap.
pub struct Gate {
    max: usize,
    open: Arc<AtomicUsize>,
    refused: Option<IntCounter>,
    gauge: Option<IntGauge>,
    last_warn: Mutex<Option<Instant>>,
}

/// One open connection's place under the cap, given back when dropped.
pub struct Slot {
    open: Arc<AtomicUsize>,
    gauge: Option<IntGauge>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        if let Some(g) = &self.gauge {
            g.dec();
        }
    }
}

impl Gate {
    /// A gate for at most `max` connections, counting into the metrics
    /// handles when metrics are on.
    pub fn new(max: usize, counters: Option<(IntCounter, IntGauge)>) -> Self {
        let (refused, gauge) = counters.unzip();
        Self {
            max: max.max(1),
            open: Arc::new(AtomicUsize::new(0)),
            refused,
            gauge,
            last_warn: Mutex::new(None),
        }
    }

    /// A slot for a new connection, or `None` (counted and, at most once a
    /// second, logged) when `max` are open: the caller closes it.
    pub fn admit(&self) -> Option<Slot> {
        let open = self.open.fetch_add(1, Ordering::Relaxed);
        if open < self.max {
            if let Some(g) = &self.gauge {
                g.inc();
            }
            return Some(Slot {
                open: self.open.clone(),
                gauge: self.gauge.clone(),
            });
        }
        self.open.fetch_sub(1, Ordering::Relaxed);
        if let Some(c) = &self.refused {
            c.inc();
        }
        let now = Instant::now();
        if let Ok(mut last) = self.last_warn.lock()
            && last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            *last = Some(now);
            tracing::warn!(
                max_connections = self.max,
                "connection limit reached: new connections are closed at once (server.max_connections)"
            );
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_past_the_cap_are_refused_until_one_closes() {
        let gate = Gate::new(2, None);
        let a = gate.admit();
        let b = gate.admit();
        assert!(a.is_some() && b.is_some());
        assert!(gate.admit().is_none());
        drop(a);
        assert!(gate.admit().is_some());
    }

    #[test]
    fn the_default_cap_leaves_room_under_the_file_limit() {
        let c = Config::default();
        let (cap, limit) = max_connections(&c);
        let limit = limit.expect("derived from the file limit");
        assert!(
            (cap as u64) * 2 < limit.max(32),
            "{cap} for a limit of {limit}"
        );
        let mut c = Config::default();
        c.server.max_connections = 7;
        assert_eq!(max_connections(&c), (7, None));
    }
}
