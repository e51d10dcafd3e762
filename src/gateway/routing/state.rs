//! One deployment's live state, shared by every worker of the process:
//! requests in flight, the peak-EWMA latency, the cooldown (with its one
//! half-open probe) and the counters its metrics show. All atomics: a
//! worker reads and updates it without a lock or a task hop.
//!
//! Races between workers cost at most one observation of the latency
//! average (a load and a store, not a compare-and-swap loop): an average
//! shrugs that off, and the picker stays a handful of loads.
//!
//! With a Redis configured, cooldowns also travel between instances
//! (`super::fleet`): this state marks what the fleet must learn, and the
//! fleet's background task adopts what other instances learnt. A ready
//! deployment's path reads nothing more than before.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::fleet::Marks;

/// The labels a failed attempt is counted under (bounded: metrics and the
/// ledger's `failed_attempts` use them).
pub const FAILURE_LABELS: [&str; 6] = [
    "upstream_unreachable",
    "upstream_dropped",
    "upstream_timeout",
    "upstream_429",
    "upstream_5xx",
    "other",
];

/// The index of `label` in [`FAILURE_LABELS`] (the last, `other`, when unknown).
pub fn failure_index(label: &str) -> usize {
    FAILURE_LABELS
        .iter()
        .position(|l| *l == label)
        .unwrap_or(FAILURE_LABELS.len() - 1)
}

/// Nanoseconds since the process's first call: the one clock routing reads.
pub fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The cooldown and latency settings (`[routing]`), shared by all states.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub cooldown_after: u32,
    pub cooldown_ns: u64,
    pub max_cooldown_ns: u64,
    pub decay_ns: f64,
}

impl Policy {
    pub fn new(r: &crate::config::RoutingConfig) -> Policy {
        let ns = |ms: u64| ms.saturating_mul(1_000_000);
        Policy {
            cooldown_after: r.cooldown_after.max(1),
            cooldown_ns: ns(r.cooldown_ms),
            max_cooldown_ns: ns(r.max_cooldown_ms),
            decay_ns: ns(r.latency_decay_ms).max(1) as f64,
        }
    }
}

/// Whether a deployment may take a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Avail {
    Ready,
    /// Its cooldown is over: one probe may go (whoever claims it).
    Probe,
    /// Cooling down until this time (`now_ns` clock).
    Cooling(u64),
}

/// One deployment of one model, process-wide.
#[derive(Debug)]
pub struct DeploymentState {
    pub model: String,
    pub name: String,
    pub provider: String,
    pub weight: f64,
    pub priority: u32,
    /// Cooldowns apply: the model has another deployment or a fallback
    /// (cooling the only way to serve a model would only turn the
    /// upstream's own answers into 503s).
    pub cools: bool,
    inflight: AtomicU32,
    /// f64 bits: nanoseconds.
    ewma: AtomicU64,
    ewma_at: AtomicU64,
    consecutive: AtomicU32,
    /// Cooling until (ns); 0 when not cooling down.
    until: AtomicU64,
    /// The half-open probe's claim, until (ns).
    probe_until: AtomicU64,
    requests: AtomicU64,
    failures: [AtomicU64; FAILURE_LABELS.len()],
    /// What the other instances must learn, and the fleet's hold on the
    /// half-open probe.
    pub(super) fleet: Marks,
}

impl DeploymentState {
    pub fn new(model: &str, name: &str, provider: &str, weight: f64, priority: u32) -> Self {
        Self {
            model: model.to_string(),
            name: name.to_string(),
            provider: provider.to_string(),
            weight,
            priority,
            cools: true,
            inflight: AtomicU32::new(0),
            ewma: AtomicU64::new(0f64.to_bits()),
            ewma_at: AtomicU64::new(0),
            consecutive: AtomicU32::new(0),
            until: AtomicU64::new(0),
            probe_until: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            failures: Default::default(),
            fleet: Marks::default(),
        }
    }

    /// Never cooled down (see [`DeploymentState::cools`]).
    pub fn without_cooldowns(mut self) -> Self {
        self.cools = false;
        self
    }

    pub fn avail(&self, now: u64) -> Avail {
        let until = self.until.load(Relaxed);
        if until == 0 {
            return Avail::Ready;
        }
        if now < until {
            return Avail::Cooling(until);
        }
        if self.fleet.held() {
            // Over here, but the probe is the fleet's to claim (Redis).
            return Avail::Cooling(now.saturating_add(self.fleet.wait_ns()));
        }
        let claim = self.probe_until.load(Relaxed);
        if now < claim {
            Avail::Cooling(claim)
        } else {
            Avail::Probe
        }
    }

    /// Claims the half-open probe (one worker wins); the claim lapses
    /// after a cooldown period, should the probe never report.
    pub fn claim_probe(&self, now: u64, p: &Policy) -> bool {
        let claim = self.probe_until.load(Relaxed);
        now >= claim
            && self
                .probe_until
                .compare_exchange(claim, now + p.cooldown_ns.max(1), Relaxed, Relaxed)
                .is_ok()
    }

    pub fn inflight(&self) -> u32 {
        self.inflight.load(Relaxed)
    }

    /// Counts a request in flight until the guard drops.
    pub fn start(self: &std::sync::Arc<Self>) -> InFlight {
        self.inflight.fetch_add(1, Relaxed);
        self.requests.fetch_add(1, Relaxed);
        InFlight(self.clone())
    }

    /// The latency estimate now (ns), decayed toward 0 while nothing is
    /// observed, so that an idle slow deployment is tried again in time.
    pub fn latency_ns(&self, now: u64, p: &Policy) -> f64 {
        let est = f64::from_bits(self.ewma.load(Relaxed));
        let at = self.ewma_at.load(Relaxed);
        est * (-(now.saturating_sub(at) as f64) / p.decay_ns).exp()
    }

    /// The `latency` strategy's cost: estimate times (in flight + 1).
    pub fn cost(&self, now: u64, p: &Policy) -> f64 {
        self.latency_ns(now, p) * f64::from(self.inflight() + 1)
    }

    /// A success: latency observed (peak: a slower one is taken at once, a
    /// faster one blended in), failures forgotten, any cooldown ended.
    pub fn success(&self, latency: Duration, now: u64, p: &Policy) {
        let rtt = latency.as_nanos() as f64;
        let est = self.latency_ns(now, p);
        let at = self.ewma_at.load(Relaxed);
        let next = if rtt > est {
            rtt
        } else {
            let w = (-(now.saturating_sub(at) as f64) / p.decay_ns).exp();
            est * w + rtt * (1.0 - w)
        };
        self.ewma.store(next.to_bits(), Relaxed);
        self.ewma_at.store(now, Relaxed);
        self.consecutive.store(0, Relaxed);
        if self.until.load(Relaxed) != 0 {
            self.until.store(0, Relaxed);
            self.probe_until.store(0, Relaxed);
            self.fleet.recovered();
        }
    }

    /// A failed attempt under `label`; returns the end of the cooldown it
    /// started, if it started one: `retry_after` (a 429's) at once, or
    /// after `cooldown_after` failures in a row, or a failed probe.
    pub fn failure(
        &self,
        label: &str,
        retry_after: Option<Duration>,
        now: u64,
        p: &Policy,
    ) -> Option<u64> {
        self.failures[failure_index(label)].fetch_add(1, Relaxed);
        let n = self.consecutive.fetch_add(1, Relaxed) + 1;
        if !self.cools {
            return None;
        }
        let was_cooling = self.until.load(Relaxed) != 0;
        let span = match retry_after {
            Some(d) if !d.is_zero() => u64::try_from(d.as_nanos())
                .unwrap_or(u64::MAX)
                .min(p.max_cooldown_ns),
            _ if was_cooling || n >= p.cooldown_after => p.cooldown_ns,
            _ => return None,
        };
        let until = now.saturating_add(span.max(1));
        self.until.store(until, Relaxed);
        self.probe_until.store(0, Relaxed);
        self.fleet.cooled();
        Some(until)
    }

    /// The end of the cooldown (`now_ns` clock); 0 when not cooling down.
    pub(super) fn until(&self) -> u64 {
        self.until.load(Relaxed)
    }

    /// Another instance cooled it down until `until`: taken when later
    /// than this instance's own end, with the probe the fleet's to claim.
    pub(super) fn adopt(&self, until: u64) -> bool {
        let mine = self.until.load(Relaxed);
        if mine != 0 && until <= mine {
            return false;
        }
        self.until.store(until, Relaxed);
        self.probe_until.store(0, Relaxed);
        self.fleet.adopted(until);
        true
    }

    /// Another instance's probe succeeded: back in service, unless this
    /// instance cooled it down since (`known`: the end the fleet knew).
    pub(super) fn fleet_recovered(&self, known: u64) -> bool {
        if self
            .until
            .compare_exchange(known, 0, Relaxed, Relaxed)
            .is_err()
        {
            return false;
        }
        self.probe_until.store(0, Relaxed);
        self.consecutive.store(0, Relaxed);
        self.fleet.adopted(0);
        true
    }

    /// Whether it is cooling down (or waiting for its probe) now.
    pub fn cooling(&self, now: u64) -> bool {
        !matches!(self.avail(now), Avail::Ready)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Relaxed)
    }

    /// Failed attempts per label of [`FAILURE_LABELS`].
    pub fn failures(&self) -> [u64; FAILURE_LABELS.len()] {
        std::array::from_fn(|i| self.failures[i].load(Relaxed))
    }
}

/// A request in flight on a deployment; counted down on drop.
#[derive(Debug)]
pub struct InFlight(std::sync::Arc<DeploymentState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Relaxed);
    }
}
