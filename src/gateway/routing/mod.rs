//! Routing: which deployment of a model serves an attempt, and the live
//! state (in flight, latency, cooldowns) that decision reads.
//!
//! A model's deployments live in one [`Shared`] built once per process, so
//! every serving worker sees the same cooldowns and load: each worker has
//! its own providers (its own connection pools, `routes::Routes`) but the
//! [`DeploymentState`]s are the same `Arc`s. The attempt loop that uses the
//! decision (failover, retries, fallbacks) is `gateway::attempts`.
//!
//! Not tower's `Balance`: it owns the services and is driven through
//! `poll_ready`, so sharing it between the workers' single-threaded
//! runtimes needs a `Buffer` (a channel and a task hop per request), and it
//! knows nothing of priorities, cooldowns or a request's already-tried
//! deployments. The decision here is a function over a few atomics per
//! deployment (`bench/routing.rs` measures it); the peak-EWMA cost and the
//! power-of-two-choices are Finagle's, as tower's `p2c` + `PeakEwma` are.
//!
//! Cooldowns also cross between gateway instances when a Redis is
//! configured: [`fleet`] does that off the request path.

pub mod fleet;
mod pick;
mod state;
#[cfg(test)]
mod tests;
mod visible;

use std::collections::HashMap;
use std::sync::Arc;

pub use pick::{Choice, pick};
pub use state::{Avail, DeploymentState, FAILURE_LABELS, InFlight, Policy, failure_index, now_ns};

use crate::config::Config;

/// Every deployment's state, by model, for the whole process.
#[derive(Debug)]
pub struct Shared {
    pub policy: Policy,
    /// Whether cooldowns are shared with other instances right now.
    pub link: Arc<fleet::Link>,
    by_model: HashMap<String, Vec<Arc<DeploymentState>>>,
    /// Model names in config order, for listings.
    order: Vec<String>,
}

impl Shared {
    pub fn new(c: &Config) -> Shared {
        let mut by_model = HashMap::new();
        let mut order = Vec::new();
        let link = Arc::new(fleet::Link::new(c.routing.cooldown_sync_ms));
        for m in &c.models {
            let deployments = m.deployments();
            let cools = deployments.len() > 1 || !m.fallbacks.is_empty();
            let states = deployments
                .iter()
                .map(|d| {
                    let mut s =
                        DeploymentState::new(&m.name, &d.name, &d.provider, d.weight, d.priority);
                    s.fleet = fleet::Marks::new(link.clone());
                    Arc::new(if cools { s } else { s.without_cooldowns() })
                })
                .collect();
            by_model.insert(m.name.clone(), states);
            order.push(m.name.clone());
        }
        Shared {
            policy: Policy::new(&c.routing),
            link,
            by_model,
            order,
        }
    }

    /// A model's deployment states, in config order.
    pub fn model(&self, name: &str) -> &[Arc<DeploymentState>] {
        self.by_model.get(name).map_or(&[], Vec::as_slice)
    }

    /// Every deployment of every model, models in config order.
    pub fn all(&self) -> impl Iterator<Item = &Arc<DeploymentState>> {
        self.order.iter().flat_map(|m| self.model(m).iter())
    }
}
