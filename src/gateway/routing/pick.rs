//! The routing decision: which deployment of a model takes the next
//! attempt of a request, given the ones it already tried.
//!
//! Within the lowest priority tier that has a deployment available (not
//! tried by this request, not cooling down), a half-open deployment whose
//! probe this call claims goes first, so recovery is found out promptly;
//! otherwise the strategy picks among the ready ones. The decision reads a
//! few atomics per deployment and allocates nothing (`bench/routing.rs`).

use std::sync::Arc;

use rand::Rng;

use super::state::{Avail, DeploymentState, Policy};
use crate::config::Strategy;

/// What the picker decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Send the attempt to this deployment (`probe`: the half-open one).
    Go { index: usize, probe: bool },
    /// Every untried deployment is cooling down, the soonest until this
    /// time (`state::now_ns` clock).
    Cooling(u64),
    /// Every deployment was tried.
    Exhausted,
}

/// Picks the next deployment; `tried` has bit `i` set for deployment `i`.
pub fn pick(
    states: &[Arc<DeploymentState>],
    tried: u64,
    strategy: Strategy,
    now: u64,
    p: &Policy,
    rng: &mut impl Rng,
) -> Choice {
    let untried = |i: usize| i >= 64 || tried & (1 << i) == 0;
    let mut tier = u32::MAX;
    let mut soonest = u64::MAX;
    let mut any = false;
    for (i, s) in states.iter().enumerate() {
        if !untried(i) {
            continue;
        }
        any = true;
        match s.avail(now) {
            Avail::Cooling(until) => soonest = soonest.min(until),
            _ => tier = tier.min(s.priority),
        }
    }
    if tier == u32::MAX {
        return if any {
            Choice::Cooling(soonest)
        } else {
            Choice::Exhausted
        };
    }
    let in_tier = |i: usize, s: &DeploymentState| untried(i) && s.priority == tier;
    for (i, s) in states.iter().enumerate() {
        if in_tier(i, s) && s.avail(now) == Avail::Probe && s.claim_probe(now, p) {
            return Choice::Go {
                index: i,
                probe: true,
            };
        }
    }
    let ready = |i: usize, s: &DeploymentState| in_tier(i, s) && s.avail(now) == Avail::Ready;
    let n = states
        .iter()
        .enumerate()
        .filter(|(i, s)| ready(*i, s))
        .count();
    if n == 0 {
        // Another worker claimed the probe between the two looks.
        return Choice::Cooling(soonest.min(now + p.cooldown_ns));
    }
    // The k-th ready deployment's index.
    let nth = |k: usize| {
        states
            .iter()
            .enumerate()
            .filter(|(i, s)| ready(*i, s))
            .nth(k)
            .map_or(0, |(i, _)| i)
    };
    let index = if n == 1 {
        nth(0)
    } else {
        match strategy {
            Strategy::Weighted => {
                let total: f64 = states
                    .iter()
                    .enumerate()
                    .filter(|(i, s)| ready(*i, s))
                    .map(|(_, s)| s.weight)
                    .sum();
                let mut r = rng.r#gen::<f64>() * total;
                let mut chosen = nth(n - 1);
                for (i, s) in states.iter().enumerate() {
                    if !ready(i, s) {
                        continue;
                    }
                    if r < s.weight {
                        chosen = i;
                        break;
                    }
                    r -= s.weight;
                }
                chosen
            }
            Strategy::LeastInflight => {
                // From a random start, so that ties spread.
                let start = rng.gen_range(0..n);
                (0..n)
                    .map(|k| nth((start + k) % n))
                    .min_by_key(|i| states[*i].inflight())
                    .unwrap_or(0)
            }
            Strategy::Latency => {
                let a = rng.gen_range(0..n);
                let mut b = rng.gen_range(0..n - 1);
                if b >= a {
                    b += 1;
                }
                let (a, b) = (nth(a), nth(b));
                if states[b].cost(now, p) < states[a].cost(now, p) {
                    b
                } else {
                    a
                }
            }
        }
    };
    Choice::Go {
        index,
        probe: false,
    }
}
