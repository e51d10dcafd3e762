//! Cooldowns shared between gateway instances through Redis (when
//! `rate_limit.redis_addr` names one and `routing.cooldown_sync_ms` > 0).
//!
//! The request path never waits on Redis: it keeps reading and updating
//! the process's own [`DeploymentState`](super::DeploymentState) atomics,
//! and one background task per process carries cooldowns both ways:
//!
//! - **Publish.** When this instance cools a deployment down it marks the
//!   state ([`Marks::cooled`]) and wakes the task, which writes
//!   `tokctl:cooldown:{model}:{deployment}` (value: the end, Unix ms) with
//!   `PX` = what is left of the cooldown, never shortening a longer one
//!   another instance set. A success that ends a cooldown writes the
//!   recovery: the cooldown key deleted, `tokctl:probe:…` set to `ok`.
//! - **Learn.** Every `routing.cooldown_sync_ms` the task reads every
//!   deployment's cooldown (`PTTL`) and probe key in one script call, and
//!   adopts a cooldown that ends later than its own, so an instance that
//!   never saw the failures stops sending to the deployment within one
//!   period. Remaining times, not end times, cross between instances: the
//!   hosts' clocks need not agree.
//! - **Probe once per fleet.** While sharing is live, a cooldown's end does
//!   not open the half-open probe locally: the state is *held* until the
//!   task wins `SET tokctl:probe:… <instance> NX PX <cooldown_ms>`; only
//!   then may one worker of this instance send the probe. Its failure
//!   publishes the next cooldown (deleting the claim), its success the
//!   recovery; a claim whose instance died lapses after a cooldown period.
//!
//! Redis unreachable, slow past a period, or not yet connected: every
//! instance keeps its own cooldowns (holds released at once, the loss
//! logged once and counted, shown on `/health`), and the task retries
//! every `rate_limit.redis_breaker_backoff_ms`. Requests are never held
//! up: nothing on their path calls Redis. This is why the rate limiter's
//! breaker is not reused: it guards calls made on the request path, and
//! here the poll loop's own failures are the only ones there are.
//!
//! Holds [`Link`] (the process's sharing status) and [`Marks`] (one per
//! deployment); the Redis calls are in `store`, the loop in `sync`.

mod store;
mod sync;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed};

use tokio::sync::Notify;

pub use sync::spawn;

/// The process's link to the fleet: whether sharing is live, the task's
/// wake-up, and what it counted.
#[derive(Debug, Default)]
pub struct Link {
    status: AtomicU8,
    wake: Notify,
    /// The sync period (ns): how long a held deployment is said to wait.
    wait_ns: u64,
    /// Cooldowns adopted from other instances.
    pub learned: AtomicU64,
    /// Times Redis was lost and cooldowns went back to this instance only.
    pub fallbacks: AtomicU64,
}

/// Where the sharing stands ([`Link::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// No Redis configured (or `routing.cooldown_sync_ms = 0`).
    Off,
    /// Configured, not answered yet: cooldowns are this instance's.
    Connecting,
    /// Redis answered the last poll: cooldowns are the fleet's.
    Live,
    /// Redis did not answer: cooldowns are this instance's until it does.
    Lost,
}

impl From<u8> for Status {
    fn from(v: u8) -> Status {
        match v {
            1 => Status::Connecting,
            2 => Status::Live,
            3 => Status::Lost,
            _ => Status::Off,
        }
    }
}

impl Link {
    /// A link for a process that shares cooldowns every `period_ms`.
    pub fn new(period_ms: u64) -> Link {
        Link {
            wait_ns: period_ms.saturating_mul(1_000_000),
            ..Link::default()
        }
    }

    pub fn status(&self) -> Status {
        Status::from(self.status.load(Relaxed))
    }

    /// Sets the status; returns the one before.
    fn set(&self, s: Status) -> Status {
        Status::from(self.status.swap(s as u8, Relaxed))
    }

    fn live(&self) -> bool {
        self.status() == Status::Live
    }
}

/// What a deployment's state last did that the fleet has not heard of.
const COOLED: u8 = 1;
const RECOVERED: u8 = 2;

/// One deployment's part in the sharing. Default: a link that is off, so
/// a state built alone (tests, benches) behaves as before.
#[derive(Debug, Default)]
pub struct Marks {
    link: Arc<Link>,
    /// Cooldown over here, but the probe is the fleet's to claim.
    hold: AtomicBool,
    /// [`COOLED`] or [`RECOVERED`], until the task publishes it.
    pending: AtomicU8,
    /// The cooldown end (`now_ns`) the fleet knows of: published or adopted.
    synced: AtomicU64,
}

impl Marks {
    pub fn new(link: Arc<Link>) -> Marks {
        Marks {
            link,
            ..Marks::default()
        }
    }

    /// Whether its probe waits for the fleet's claim.
    pub fn held(&self) -> bool {
        self.hold.load(Relaxed)
    }

    /// How long a held deployment is said to wait (`Retry-After`).
    pub fn wait_ns(&self) -> u64 {
        self.link.wait_ns
    }

    /// This instance started a cooldown: tell the fleet, and leave the
    /// probe to the fleet's claim while sharing is live.
    pub fn cooled(&self) {
        self.hold.store(self.link.live(), Relaxed);
        self.pending.store(COOLED, Relaxed);
        self.link.wake.notify_one();
    }

    /// A success ended a cooldown here: tell the fleet.
    pub fn recovered(&self) {
        self.hold.store(false, Relaxed);
        self.pending.store(RECOVERED, Relaxed);
        self.link.wake.notify_one();
    }

    /// The fleet's view was taken: `until` is what it knows (0: none).
    pub fn adopted(&self, until: u64) {
        self.synced.store(until, Relaxed);
        self.hold.store(until != 0 && self.link.live(), Relaxed);
    }

    fn release(&self) {
        self.hold.store(false, Relaxed);
    }

    fn take_pending(&self) -> u8 {
        self.pending.swap(0, Relaxed)
    }

    /// Puts back what could not be published (unless something newer came).
    fn restore_pending(&self, what: u8) {
        let _ = self.pending.compare_exchange(0, what, Relaxed, Relaxed);
    }

    fn synced(&self) -> u64 {
        self.synced.load(Relaxed)
    }
}
