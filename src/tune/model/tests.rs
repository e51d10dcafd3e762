//! The model's tests: the seed rows, monotonicity, constraints, bad input.

use super::*;

/// Inputs at `qps` that no constraint binds: 64 cores, 1,000 connections.
pub(crate) fn unbound(qps: f64) -> Inputs {
    Inputs {
        qps,
        burst_seconds: 1.0,
        max_delay_ms: None,
        cores: 64,
        db_max_conns: 1000,
        entry_bytes: 400,
        memory_budget_bytes: None,
        instances: 1,
        backend: Backend::Postgres,
        spool: Spool::OFF,
    }
}

fn values(r: &Recommendation) -> (usize, u64, usize, usize) {
    (
        r.batch_size.value,
        r.flush_ms.value,
        r.buffer_size.value,
        r.num_workers.value,
    )
}

#[test]
fn seed_rows_are_reproduced_at_their_points() {
    for (qps, batch, flush, buffer, workers) in SEED_ROWS {
        let r = recommend(&unbound(qps)).expect("a recommendation");
        assert_eq!(values(&r), (batch, flush, buffer, workers), "at {qps} QPS");
        assert!(r.num_workers.limited_by.is_none(), "at {qps} QPS");
        assert!(r.warnings.is_empty());
    }
}

#[test]
fn values_are_monotone_across_the_whole_range() {
    // A dense sweep in log-space from 0.5 to 2M QPS.
    let mut prev = values(&recommend(&unbound(0.5)).expect("a recommendation"));
    let mut qps = 0.5f64;
    while qps < 2e6 {
        qps *= 1.003;
        let v = values(&recommend(&unbound(qps)).expect("a recommendation"));
        assert!(v.0 >= prev.0, "batch fell at {qps}: {prev:?} -> {v:?}");
        assert!(v.1 <= prev.1, "flush rose at {qps}: {prev:?} -> {v:?}");
        assert!(v.2 >= prev.2, "buffer fell at {qps}: {prev:?} -> {v:?}");
        assert!(v.3 >= prev.3, "workers fell at {qps}: {prev:?} -> {v:?}");
        prev = v;
    }
}

#[test]
fn no_jump_at_a_band_edge() {
    let below = recommend(&unbound(999.0)).expect("ok");
    let above = recommend(&unbound(1001.0)).expect("ok");
    assert!(above.batch_size.value - below.batch_size.value <= 5);
    assert!(below.flush_ms.value - above.flush_ms.value <= 5);
}

#[test]
fn workers_follow_cores_connections_and_instances() {
    let workers = |i: &Inputs| {
        let r = recommend(i).expect("ok");
        (r.num_workers.value, r.num_workers.limited_by)
    };
    let mut i = unbound(100_000.0);
    i.cores = 8;
    assert_eq!(workers(&i), (8, Some("cores")));
    i.db_max_conns = 100;
    assert_eq!(workers(&i).0, 8);
    i.cores = 64;
    assert_eq!(workers(&i), (10, Some("db_max_conns")));
    i.instances = 4;
    assert_eq!(workers(&i), (2, Some("instances")));
    assert!(recommend(&i).expect("ok").max_open_conns.value <= 25);
}

#[test]
fn sqlite_gets_one_worker_and_says_so() {
    let mut i = unbound(10_000.0);
    i.backend = Backend::Sqlite;
    let r = recommend(&i).expect("ok");
    assert_eq!(r.num_workers.value, 1);
    assert_eq!(r.num_workers.limited_by, Some("sqlite"));
    assert!(r.warnings.iter().any(|w| w.contains("one writer")));
}

#[test]
fn flush_obeys_the_delay_and_buffer_the_burst_and_budget() {
    let mut i = unbound(25.0);
    i.max_delay_ms = Some(300);
    i.burst_seconds = 1000.0;
    let r = recommend(&i).expect("ok");
    assert_eq!(r.flush_ms.value, 300);
    assert_eq!(r.flush_ms.limited_by, Some("max_delay_ms"));
    assert_eq!(r.buffer_size.value, 25_000);
    // The batch follows the flush chosen, not the curve's: 25 QPS × 300 ms ≈ 7.5.
    assert_eq!(r.batch_size.value, 8, "{}", r.batch_size.reason);
    let mut i = unbound(10_000.0);
    i.max_delay_ms = Some(1);
    let r = recommend(&i).expect("ok");
    assert_eq!((r.flush_ms.value, r.batch_size.value), (1, 10));
    let mut i = unbound(10_000.0);
    i.memory_budget_bytes = Some(10_000 * 400 * 5);
    let r = recommend(&i).expect("ok");
    assert_eq!(r.buffer_size.value, 50_000);
    assert_eq!(r.buffer_size.limited_by, Some("memory_budget"));
    assert_eq!(r.buffer_memory_bytes.value, 50_000 * 400);
    assert_eq!(
        r.entries_at_risk.value,
        50_000 + 10 * r.batch_size.value as u64
    );
}

#[test]
fn past_one_million_it_says_one_writer_is_not_the_answer() {
    let r = recommend(&unbound(2e6)).expect("ok");
    assert!(r.warnings[0].contains("one writer is not the answer"));
    assert!(r.warnings[0].contains("Kafka"));
}

#[test]
fn unsatisfiable_and_absurd_inputs_are_errors() {
    let mut i = unbound(10_000.0);
    i.memory_budget_bytes = Some(1024 * 1024);
    assert!(matches!(
        recommend(&i),
        Err(TuneError::BudgetTooSmall { .. })
    ));
    for qps in [0.0, -5.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            recommend(&unbound(qps)),
            Err(TuneError::NotPositive { name: "--qps", .. })
        ));
    }
    assert!(matches!(
        recommend(&unbound(1e12)),
        Err(TuneError::TooLarge { .. })
    ));
    let mut i = unbound(100.0);
    i.db_max_conns = 10;
    i.instances = 6;
    assert!(matches!(
        recommend(&i),
        Err(TuneError::NoConnections { .. })
    ));
    let mut i = unbound(100.0);
    i.cores = 0;
    assert!(recommend(&i).is_err());
}

/// A small deterministic generator, so the random-input test needs no
/// extra crate and fails the same way every time.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn log_range(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + self.next() * (hi.ln() - lo.ln())).exp()
    }
}

#[test]
fn every_constraint_holds_for_random_inputs() {
    let mut g = Lcg(42);
    let mut checked = 0;
    for _ in 0..20_000 {
        let i = Inputs {
            qps: g.log_range(0.1, 5e6),
            burst_seconds: g.log_range(0.1, 600.0),
            max_delay_ms: (g.next() < 0.5).then(|| g.log_range(1.0, 10_000.0) as u64),
            cores: g.log_range(1.0, 256.0) as u32,
            db_max_conns: g.log_range(2.0, 5000.0) as u32,
            entry_bytes: g.log_range(100.0, 10_000.0) as u64,
            memory_budget_bytes: (g.next() < 0.5).then(|| g.log_range(1e5, 1e11) as u64),
            instances: g.log_range(1.0, 50.0) as u32,
            backend: if g.next() < 0.3 {
                Backend::Sqlite
            } else {
                Backend::Postgres
            },
            spool: Spool::OFF,
        };
        let Ok(r) = recommend(&i) else { continue };
        checked += 1;
        let share = i.db_max_conns / i.instances;
        let w = r.num_workers.value;
        assert!(w >= 1);
        assert!(w <= (i.cores as usize).max(1), "{i:?}");
        assert!(w <= ((share / 10).max(1)) as usize, "{i:?}");
        if i.backend == Backend::Sqlite {
            assert_eq!(w, 1);
        }
        if let Some(d) = i.max_delay_ms {
            assert!(r.flush_ms.value <= d, "{i:?}");
        }
        assert!(
            r.buffer_size.value as f64
                >= (i.qps * i.burst_seconds).min(
                    i.memory_budget_bytes
                        .map_or(f64::MAX, |b| (b / i.entry_bytes) as f64)
                )
        );
        assert!(r.buffer_size.value as f64 >= i.qps.min(r.buffer_size.value as f64));
        if let Some(b) = i.memory_budget_bytes {
            assert!(r.buffer_memory_bytes.value <= b, "{i:?}");
            assert!(
                r.buffer_size.value as f64 >= (i.qps * i.burst_seconds).ceil(),
                "{i:?}"
            );
        }
        assert!(r.batch_size.value >= 1 && r.batch_size.value <= r.buffer_size.value);
        assert!(
            r.max_open_conns.value <= share
                && r.max_open_conns.value as usize >= w.min(share as usize)
        );
        assert!(r.max_idle_conns.value <= r.max_open_conns.value);
        assert!(!r.batch_size.reason.is_empty() && !r.buffer_size.reason.is_empty());
    }
    assert!(checked > 5_000, "only {checked} inputs were satisfiable");
}

#[test]
fn entries_at_risk_follow_the_spool() {
    let mut i = unbound(25_000.0);
    let off = recommend(&i).expect("ok");
    let held = off.buffer_size.value as u64 + (off.num_workers.value * off.batch_size.value) as u64;
    assert_eq!(off.entries_at_risk.value, held);
    assert!(off.entries_at_risk.reason.starts_with("spool off"));

    i.spool = Spool {
        enabled: true,
        fsync: Fsync::Interval,
        fsync_ms: 100,
    };
    let r = recommend(&i).expect("ok");
    // A tenth of a second of 25,000 requests per second.
    assert_eq!(r.entries_at_risk.value, 2_500);
    assert!(
        r.entries_at_risk
            .reason
            .contains("process crash loses none")
    );

    i.spool.fsync = Fsync::Always;
    assert_eq!(recommend(&i).expect("ok").entries_at_risk.value, 0);

    i.spool.fsync = Fsync::Never;
    let r = recommend(&i).expect("ok");
    assert_eq!(r.entries_at_risk.value, 25_000 * 30);
    assert!(r.entries_at_risk.reason.contains("power loss"));
    // The other settings do not depend on the spool.
    assert_eq!(values(&r), values(&off));
}
