//! The per-deployment rule of the sync task, and the marks a state leaves
//! for it, without Redis (the real Redis is in
//! tests/it/gateway/routing_fleet.rs).

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config::RoutingConfig;
use crate::gateway::routing::fleet::Marks;
use crate::gateway::routing::{Avail, Policy};

const MS: u64 = 1_000_000;

fn remote(left_ms: u64, probe: &str) -> Remote {
    Remote {
        left_ms,
        probe: probe.to_string(),
    }
}

fn local(until: u64, synced: u64, held: bool) -> Local {
    Local {
        until,
        synced,
        held,
    }
}

#[test]
fn a_cooldown_elsewhere_is_adopted_when_it_ends_later() {
    let now = 1_000 * MS;
    let r = remote(300, "");
    assert_eq!(
        decide(local(0, 0, false), &r, now, "me"),
        Act::Adopt(1_300 * MS)
    );
    assert_eq!(
        decide(local(1_100 * MS, 0, false), &r, now, "me"),
        Act::Adopt(1_300 * MS),
        "a longer one wins"
    );
    assert_eq!(
        decide(local(1_300 * MS, 1_300 * MS, true), &r, now, "me"),
        Act::Nothing,
        "Redis's copy of this instance's own cooldown"
    );
    assert_eq!(
        decide(local(2_000 * MS, 0, false), &r, now, "me"),
        Act::Nothing,
        "a shorter one never shortens this one"
    );
}

#[test]
fn the_probe_is_claimed_once_the_cooldown_is_over_and_held() {
    let now = 1_000 * MS;
    let over = local(900 * MS, 900 * MS, true);
    assert_eq!(decide(over, &remote(0, ""), now, "me"), Act::Claim);
    assert_eq!(decide(over, &remote(0, "me"), now, "me"), Act::Release);
    assert_eq!(
        decide(over, &remote(0, "other"), now, "me"),
        Act::Nothing,
        "another instance probes"
    );
    let running = local(1_100 * MS, 1_100 * MS, true);
    assert_eq!(decide(running, &remote(0, ""), now, "me"), Act::Nothing);
    let local_only = local(900 * MS, 900 * MS, false);
    assert_eq!(
        decide(local_only, &remote(0, ""), now, "me"),
        Act::Nothing,
        "not held: this instance's own half-open probe"
    );
}

#[test]
fn a_recovery_elsewhere_ends_only_the_cooldown_the_fleet_knew() {
    let now = 1_000 * MS;
    let known = local(900 * MS, 900 * MS, true);
    assert_eq!(
        decide(known, &remote(0, "ok"), now, "me"),
        Act::Recovered(900 * MS)
    );
    let newer = local(1_500 * MS, 900 * MS, false);
    assert_eq!(
        decide(newer, &remote(0, "ok"), now, "me"),
        Act::Nothing,
        "a cooldown begun here since is not the one that ended"
    );
    assert_eq!(
        decide(local(0, 0, false), &remote(0, "ok"), now, "me"),
        Act::Nothing
    );
}

fn policy() -> Policy {
    Policy::new(&RoutingConfig {
        cooldown_after: 1,
        cooldown_ms: 1000,
        ..RoutingConfig::default()
    })
}

#[test]
fn while_live_a_cooldown_end_waits_for_the_fleet_claim() {
    let link = Arc::new(Link::new(250));
    link.set(Status::Live);
    let mut s = crate::gateway::routing::DeploymentState::new("m", "d", "p", 1.0, 0);
    s.fleet = Marks::new(link.clone());
    let p = policy();
    let until = s.failure("upstream_5xx", None, 0, &p).expect("cooled");
    assert_eq!(s.fleet.take_pending(), COOLED, "the fleet must hear of it");
    assert!(s.fleet.held());
    assert_eq!(
        s.avail(until),
        Avail::Cooling(until + 250 * MS),
        "over here, but held for the fleet's claim"
    );
    s.fleet.release();
    assert_eq!(s.avail(until), Avail::Probe, "claimed: one worker probes");
    s.success(Duration::from_millis(5), until, &p);
    assert_eq!(s.fleet.take_pending(), RECOVERED);
    assert_eq!(s.avail(until), Avail::Ready);
}

#[test]
fn adoption_and_recovery_from_the_fleet_follow_the_known_end() {
    let link = Arc::new(Link::new(250));
    link.set(Status::Live);
    let mut s = crate::gateway::routing::DeploymentState::new("m", "d", "p", 1.0, 0);
    s.fleet = Marks::new(link.clone());
    assert!(s.adopt(500 * MS));
    assert!(!s.adopt(400 * MS), "never shortened");
    assert!(s.fleet.held() && s.fleet.synced() == 500 * MS);
    assert_eq!(s.avail(100 * MS), Avail::Cooling(500 * MS));
    assert!(!s.fleet_recovered(400 * MS), "not the end the fleet knew");
    assert!(s.fleet_recovered(500 * MS));
    assert_eq!(s.avail(100 * MS), Avail::Ready);
    assert!(!s.fleet.held());
}

#[test]
fn without_a_live_link_nothing_is_held() {
    let s = crate::gateway::routing::DeploymentState::new("m", "d", "p", 1.0, 0);
    let until = s
        .failure("upstream_5xx", None, 0, &policy())
        .expect("cooled");
    assert!(!s.fleet.held());
    assert_eq!(
        s.avail(until),
        Avail::Probe,
        "as before: this process decides"
    );
}
