//! Budgets shared through one real Redis by two limiters (two gateways'
//! worth), rebuilt from a real ledger when Redis loses them, and enforced
//! per instance when Redis stops.

use std::sync::Arc;
use std::time::Duration;

use tokctl::budget::{Ask, Budget, Scope, Unwritten, Window};
use tokctl::config::{OnStoreFailure, RateLimitConfig};
use tokctl::identity::Principal;
use tokctl::ledger;
use tokctl::ratelimit::{RateLimiter, Spend, SpendSetup};

use crate::ledger::{entry, migrated};
use crate::support::redis;

/// $0.50 in nano-units.
const HALF: i64 = 500_000_000;

fn budget(id: i64, limit_nano: i64, window: Window) -> Budget {
    Budget {
        scope: Scope::Key,
        id,
        limit_nano,
        window,
        anchor_us: 0,
        soft_percent: Some(80),
    }
}

fn principal(key_id: i64, b: Budget) -> Principal {
    Principal {
        user_id: 1,
        user_name: "budgeted".into(),
        key_id,
        budgets: Some(Arc::from(vec![b])),
        ..Principal::default()
    }
}

fn ask(p: &Principal, estimate_nano: i64) -> Ask {
    Ask {
        budgets: p.budgets.clone().expect("budgets"),
        estimate_nano,
    }
}

async fn limiter(
    addr: &str,
    ledger: Option<tokctl::db::Db>,
    on_store_failure: OnStoreFailure,
) -> RateLimiter {
    limiter_holding(addr, ledger, on_store_failure, 600_000).await
}

async fn limiter_holding(
    addr: &str,
    ledger: Option<tokctl::db::Db>,
    on_store_failure: OnStoreFailure,
    hold_ms: u64,
) -> RateLimiter {
    let cfg = RateLimitConfig {
        redis_addr: tokctl::config::SecretUrl::new(addr),
        redis_timeout_ms: 500,
        redis_breaker_failures: 1000,
        ..RateLimitConfig::default()
    };
    let setup = SpendSetup {
        on_store_failure,
        ledger,
        unwritten: Arc::new(Unwritten::new(0)),
        hold_ms,
        ..SpendSetup::default()
    };
    RateLimiter::build(&cfg, setup)
        .await
        .expect("Redis answers")
}

/// A key id no other test uses on the shared Redis.
fn fresh_id() -> i64 {
    i64::from(rand::random::<u32>()) + 1_000_000
}

fn hget(addr: &str, key: &str) -> i64 {
    let client = ::redis::Client::open(format!("redis://{addr}")).expect("a Redis URL");
    let mut conn = client.get_connection().expect("Redis answers");
    let v: Option<i64> = ::redis::cmd("HGET")
        .arg(key)
        .arg("spent")
        .query(&mut conn)
        .expect("HGET");
    v.unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_concurrent_requests_on_two_gateways_stay_within_the_budget() {
    let server = redis::server();
    let (a, b) = (
        limiter(&server.addr(), None, OnStoreFailure::Local).await,
        limiter(&server.addr(), None, OnStoreFailure::Local).await,
    );
    let id = fresh_id();
    let p = principal(
        id,
        budget(id, HALF, Window::Every(Duration::from_secs(3600))),
    );
    // Each request holds 2.0 m and costs 1.9 m (its estimate bounds it).
    let (estimate, cost) = (2_000_000, 1_900_000);
    let mut tasks = Vec::new();
    for i in 0..300 {
        let l = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (p, q) = (p.clone(), ask(&p, estimate));
        tasks.push(tokio::spawn(async move {
            let (v, spend) = l.admit(&p, None, Some(&q)).await;
            assert!(v.allowed);
            match spend {
                Spend::Held(t) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let crossed = l.settle_all(None, Some((&t, cost))).await;
                    (1, crossed.len())
                }
                Spend::Exceeded(_) => (0, 0),
                other => panic!("unexpected {other:?}"),
            }
        }));
    }
    let (mut admitted, mut crossed) = (0i64, 0);
    for t in tasks {
        let (a, c) = t.await.expect("task");
        admitted += a;
        crossed += c;
    }
    assert_eq!(
        crossed, 1,
        "the 80 % threshold is raised once for the fleet"
    );
    let settled = admitted * cost;
    assert!(settled <= HALF, "settled {settled} > budget {HALF}");
    // Settles free room as they go, so more than the 250 a single wave of
    // holds allows may pass, but never past the budget.
    assert!(admitted >= 250, "only {admitted} admitted");
    assert_eq!(
        hget(&server.addr(), &key_of(id, 3600)),
        settled,
        "Redis's spend is the sum of the settlements"
    );
}

/// The Redis hash of key `id`'s current period of `secs` (anchor 0).
fn key_of(id: i64, secs: u64) -> String {
    let now = chrono::Utc::now().timestamp_micros();
    let p = Window::Every(Duration::from_secs(secs)).period(now, 0, chrono_tz::UTC);
    format!("tokctl:budget:key:{id}:{}", p.start_us)
}

/// An entry of key `id` costing `cost_nano`, now.
fn spent_entry(n: usize, id: i64, cost_nano: i64) -> tokctl::ledger::Entry {
    let mut e = entry(&format!("budget-{id}-{n}"));
    e.api_key_id = Some(id);
    e.created_at_us = chrono::Utc::now().timestamp_micros();
    e.cost_nano = cost_nano;
    e
}

dbtest!(
    a_flushed_redis_is_rebuilt_from_the_ledger_and_unwritten_spend,
    |db| {
        let conn = migrated(&db).await;
        let own = redis::start("redis-server").expect("a Redis of this test's own");
        let l = limiter(&own.addr(), Some(conn.clone()), OnStoreFailure::Local).await;
        let id = fresh_id();
        let b = budget(id, HALF, Window::Every(Duration::from_secs(3600)));
        let p = principal(id, b);
        // The ledger holds 0.30 of this period; 0.15 more is settled but
        // still on its way (spooled, say).
        let written: Vec<_> = (0..3).map(|n| spent_entry(n, id, 100_000_000)).collect();
        ledger::insert_batch(&conn, &written).await.expect("insert");
        l.unwritten().add([b].iter(), 150_000_000);
        let (_, spend) = l.admit(&p, None, Some(&ask(&p, 1_000))).await;
        let Spend::Held(t) = spend else {
            panic!("admitted at first: {spend:?}")
        };
        l.settle_all(None, Some((&t, 0))).await;
        assert_eq!(hget(&own.addr(), &key_of(id, 3600)), 450_000_000);
        // Redis loses everything: the next admission must still see 0.45.
        redis::command(&own.addr(), "FLUSHALL").expect("FLUSHALL");
        let (_, spend) = l.admit(&p, None, Some(&ask(&p, 60_000_000))).await;
        assert!(
            matches!(spend, Spend::Exceeded(_)),
            "0.45 + 0.06 > 0.50 after the flush: {spend:?}"
        );
        assert_eq!(hget(&own.addr(), &key_of(id, 3600)), 450_000_000, "rebuilt");
        let (_, spend) = l.admit(&p, None, Some(&ask(&p, 40_000_000))).await;
        assert!(
            matches!(spend, Spend::Held(_)),
            "0.45 + 0.04 fits: {spend:?}"
        );
    }
);

#[tokio::test]
async fn with_redis_stopped_local_keeps_enforcing_and_refuse_refuses() {
    let own = redis::start("redis-server").expect("a Redis of this test's own");
    let local = limiter(&own.addr(), None, OnStoreFailure::Local).await;
    let refuse = limiter(&own.addr(), None, OnStoreFailure::Refuse).await;
    let id = fresh_id();
    let p = principal(
        id,
        budget(id, HALF, Window::Every(Duration::from_secs(3600))),
    );
    // 0.40 spent through Redis while it answered.
    let (_, spend) = local.admit(&p, None, Some(&ask(&p, 400_000_000))).await;
    let Spend::Held(t) = spend else {
        panic!("{spend:?}")
    };
    local.settle_all(None, Some((&t, 400_000_000))).await;
    own.signal("KILL");
    // The last known 0.40 plus this instance's own spend since.
    let (_, spend) = local.admit(&p, None, Some(&ask(&p, 60_000_000))).await;
    let Spend::Held(t) = spend else {
        panic!("0.46 fits locally: {spend:?}")
    };
    local.settle_all(None, Some((&t, 60_000_000))).await;
    let (_, spend) = local.admit(&p, None, Some(&ask(&p, 60_000_000))).await;
    assert!(
        matches!(spend, Spend::Exceeded(_)),
        "0.52 does not: {spend:?}"
    );
    assert!(
        local
            .counters()
            .budget_local
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );
    let (_, spend) = refuse.admit(&p, None, Some(&ask(&p, 1))).await;
    assert_eq!(spend, Spend::Unavailable);
}

#[tokio::test]
async fn what_a_dead_gateway_held_is_forgotten_after_two_hold_lifetimes() {
    let server = redis::server();
    let id = fresh_id();
    let p = principal(
        id,
        budget(id, HALF, Window::Every(Duration::from_secs(3600))),
    );
    let dead = limiter_holding(&server.addr(), None, OnStoreFailure::Local, 1000).await;
    let (_, spend) = dead.admit(&p, None, Some(&ask(&p, HALF))).await;
    assert!(matches!(spend, Spend::Held(_)), "{spend:?}");
    // Its gateway dies before settling: the hold is never given back.
    drop(dead);
    let live = limiter_holding(&server.addr(), None, OnStoreFailure::Local, 1000).await;
    let (_, spend) = live.admit(&p, None, Some(&ask(&p, 1))).await;
    assert!(
        matches!(spend, Spend::Exceeded(_)),
        "held by the dead one: {spend:?}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, spend) = live.admit(&p, None, Some(&ask(&p, 1))).await;
        if let Spend::Held(t) = spend {
            live.settle_all(None, Some((&t, 1))).await;
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the dead hold never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        hget(&server.addr(), &key_of(id, 3600)),
        1,
        "only settled spend counts"
    );
}

dbtest!(
    the_reconciler_raises_redis_to_the_ledger_and_reports_the_drift,
    |db| {
        let conn = migrated(&db).await;
        let server = redis::server();
        let l = limiter(&server.addr(), Some(conn.clone()), OnStoreFailure::Local).await;
        let id = fresh_id();
        let p = principal(
            id,
            budget(id, HALF, Window::Every(Duration::from_secs(3600))),
        );
        let (_, spend) = l.admit(&p, None, Some(&ask(&p, 1_000))).await;
        let Spend::Held(t) = spend else {
            panic!("{spend:?}")
        };
        l.settle_all(None, Some((&t, 1_000))).await;
        // Spend Redis never heard of (a settlement lost while it failed).
        let lost: Vec<_> = (0..2).map(|n| spent_entry(n, id, 50_000_000)).collect();
        ledger::insert_batch(&conn, &lost).await.expect("insert");
        let drift = l.reconcile().await.expect("Redis answers");
        assert_eq!(drift.by_scope, vec![(Scope::Key, 1_000 - 100_000_000)]);
        assert_eq!(drift.raised, 1);
        assert_eq!(hget(&server.addr(), &key_of(id, 3600)), 100_000_000);
        let again = l.reconcile().await.expect("Redis answers");
        assert_eq!(
            again.by_scope,
            vec![(Scope::Key, 0)],
            "nothing left to raise"
        );
    }
);

#[tokio::test]
async fn budgets_without_rate_limits_go_back_to_redis_when_it_answers_again() {
    let own = redis::start("redis-server").expect("a Redis of this test's own");
    // Rate limits off: the breaker's probe must still bring budgets back.
    let cfg = RateLimitConfig {
        redis_addr: tokctl::config::SecretUrl::new(own.addr()),
        redis_timeout_ms: 300,
        redis_breaker_failures: 1,
        redis_breaker_backoff_ms: 100,
        ..RateLimitConfig::default()
    };
    let l = RateLimiter::build(&cfg, SpendSetup::default())
        .await
        .expect("Redis answers");
    let id = fresh_id();
    let p = principal(
        id,
        budget(id, HALF, Window::Every(Duration::from_secs(3600))),
    );
    let spend_once = |cost: i64| {
        let (l, p) = (l.clone(), p.clone());
        async move {
            let (v, spend) = l.admit(&p, None, Some(&ask(&p, cost))).await;
            assert!(v.allowed, "no rate limit may refuse: {v:?}");
            let Spend::Held(t) = spend else {
                panic!("{spend:?}")
            };
            l.settle_all(None, Some((&t, cost))).await;
        }
    };
    spend_once(1_000).await;
    own.signal("KILL");
    spend_once(200).await;
    let local = |l: &RateLimiter| {
        l.counters()
            .budget_local
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert!(local(&l) >= 1, "decided locally while Redis was gone");
    // A fresh, empty Redis on the same port.
    own.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let before = local(&l);
        spend_once(0).await;
        if local(&l) == before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "budgets never went back to Redis"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    spend_once(500).await;
    let failures = l
        .counters()
        .store_failures
        .load(std::sync::atomic::Ordering::Relaxed);
    spend_once(0).await;
    assert_eq!(
        l.counters()
            .store_failures
            .load(std::sync::atomic::Ordering::Relaxed),
        failures,
        "a request that cost nothing settles in Redis too"
    );
    assert_eq!(
        hget(&own.addr(), &key_of(id, 3600)),
        1_700,
        "rebuilt from what this gateway knew (1,000 + 200), then 500 more"
    );
}
