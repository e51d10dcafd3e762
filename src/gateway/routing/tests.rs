//! The picker and the cooldown state machine on their own.

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::config::{RoutingConfig, Strategy};

const MS: u64 = 1_000_000;

fn policy() -> Policy {
    Policy::new(&RoutingConfig {
        cooldown_after: 2,
        cooldown_ms: 1000,
        ..RoutingConfig::default()
    })
}

fn states(weights: &[(f64, u32)]) -> Vec<Arc<DeploymentState>> {
    weights
        .iter()
        .enumerate()
        .map(|(i, (w, prio))| Arc::new(DeploymentState::new("m", &format!("d{i}"), "p", *w, *prio)))
        .collect()
}

fn go(c: Choice) -> usize {
    match c {
        Choice::Go { index, .. } => index,
        other => panic!("expected a deployment, got {other:?}"),
    }
}

#[test]
fn weighted_follows_the_weights() {
    let s = states(&[(3.0, 0), (1.0, 0)]);
    let mut rng = StdRng::seed_from_u64(7);
    let p = policy();
    let first = (0..40_000)
        .filter(|_| go(pick(&s, 0, Strategy::Weighted, 0, &p, &mut rng)) == 0)
        .count();
    let share = first as f64 / 40_000.0;
    assert!((share - 0.75).abs() < 0.01, "{share}");
}

#[test]
fn tried_deployments_and_higher_tiers_wait_their_turn() {
    let s = states(&[(1.0, 0), (1.0, 0), (1.0, 1)]);
    let mut rng = StdRng::seed_from_u64(1);
    let p = policy();
    for _ in 0..100 {
        assert_ne!(go(pick(&s, 0, Strategy::Weighted, 0, &p, &mut rng)), 2);
        assert_eq!(go(pick(&s, 0b001, Strategy::Weighted, 0, &p, &mut rng)), 1);
    }
    assert_eq!(go(pick(&s, 0b011, Strategy::Latency, 0, &p, &mut rng)), 2);
    assert_eq!(
        pick(&s, 0b111, Strategy::Weighted, 0, &p, &mut rng),
        Choice::Exhausted
    );
}

#[test]
fn failures_cool_down_then_one_probe_decides() {
    let s = states(&[(1.0, 0), (1.0, 0)]);
    let p = policy();
    let mut rng = StdRng::seed_from_u64(3);
    assert_eq!(s[0].failure("upstream_5xx", None, 0, &p), None);
    let until = s[0].failure("upstream_5xx", None, 0, &p).expect("cooled");
    assert_eq!(until, 1000 * MS);
    for _ in 0..50 {
        assert_eq!(
            go(pick(&s, 0, Strategy::Weighted, 10 * MS, &p, &mut rng)),
            1
        );
    }
    // Both cooling: the soonest end is told.
    s[1].failure("upstream_429", Some(Duration::from_secs(5)), 10 * MS, &p);
    assert_eq!(
        pick(&s, 0, Strategy::Weighted, 20 * MS, &p, &mut rng),
        Choice::Cooling(until)
    );
    // Past the cooldown: exactly one probe, then cooling until it reports.
    let later = 1001 * MS;
    assert_eq!(
        pick(&s, 0, Strategy::Weighted, later, &p, &mut rng),
        Choice::Go {
            index: 0,
            probe: true
        }
    );
    assert!(matches!(
        pick(&s, 0, Strategy::Weighted, later, &p, &mut rng),
        Choice::Cooling(_)
    ));
    // The probe fails: a new cooldown at once, without waiting for 2 in a row.
    let again = s[0]
        .failure("upstream_5xx", None, later, &p)
        .expect("cooled again");
    assert_eq!(again, later + 1000 * MS);
    // The next probe succeeds: ready again.
    assert_eq!(
        pick(&s, 0b10, Strategy::Weighted, again, &p, &mut rng),
        Choice::Go {
            index: 0,
            probe: true
        }
    );
    s[0].success(Duration::from_millis(1), again, &p);
    assert_eq!(s[0].avail(again), Avail::Ready);
    assert_eq!(s[0].failures()[failure_index("upstream_5xx")], 3);
}

#[test]
fn a_model_s_only_way_never_cools() {
    let s = DeploymentState::new("m", "d", "p", 1.0, 0).without_cooldowns();
    let p = policy();
    for _ in 0..5 {
        assert_eq!(
            s.failure("upstream_429", Some(Duration::from_secs(9)), 0, &p),
            None
        );
    }
    assert_eq!(s.avail(0), Avail::Ready);
}

#[test]
fn latency_prefers_the_fast_one_and_comes_back_to_an_idle_slow_one() {
    let s = states(&[(1.0, 0), (1.0, 0)]);
    let p = policy(); // 2 s decay
    let mut rng = StdRng::seed_from_u64(5);
    s[0].success(Duration::from_millis(1), 0, &p);
    s[1].success(Duration::from_millis(20), 0, &p);
    assert_eq!(go(pick(&s, 0, Strategy::Latency, MS, &p, &mut rng)), 0);
    // Load counts: many in flight on the fast one make the slow one cheaper.
    let guards: Vec<_> = (0..40).map(|_| s[0].start()).collect();
    assert_eq!(go(pick(&s, 0, Strategy::Latency, MS, &p, &mut rng)), 1);
    drop(guards);
    // Seconds later with no news from the slow one, it is tried again.
    s[0].success(Duration::from_millis(1), 8000 * MS, &p);
    assert_eq!(
        go(pick(&s, 0, Strategy::Latency, 8000 * MS, &p, &mut rng)),
        1
    );
}

#[test]
fn least_inflight_takes_the_idle_one() {
    let s = states(&[(1.0, 0), (1.0, 0), (1.0, 0)]);
    let p = policy();
    let mut rng = StdRng::seed_from_u64(9);
    let _a = s[0].start();
    let _b = s[2].start();
    for _ in 0..20 {
        assert_eq!(go(pick(&s, 0, Strategy::LeastInflight, 0, &p, &mut rng)), 1);
    }
}
