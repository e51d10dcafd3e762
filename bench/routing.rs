//! The routing decision's cost (issue 33: at most 200 ns): `pick` over the
//! deployments of one model, for each strategy, with 1 and 3 deployments,
//! on one thread and on two threads sharing the same states (as the
//! gateway's workers do), plus the bookkeeping an attempt adds (the
//! in-flight guard and the success observation).
//!
//! Prints the median of 7 rounds in ns per decision; asserts nothing.
//! A hand-rolled loop like the other benches here, not criterion: the
//! project carries no criterion (its build is heavy on the shared 2-core
//! machine), and a median of rounds is what docs/benchmarks.md reports.
//!
//! Usage: `cargo bench --bench routing -- --bench [N=2000000]`; without
//! `--bench` it exits at once (so `cargo test --all-targets` stays quick).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokctl::config::{RoutingConfig, Strategy};
use tokctl::gateway::routing::{Choice, DeploymentState, Policy, now_ns, pick};

fn states(n: usize) -> Vec<Arc<DeploymentState>> {
    (0..n)
        .map(|i| {
            let s = Arc::new(DeploymentState::new(
                "m",
                &format!("d{i}"),
                "p",
                1.0 + i as f64,
                0,
            ));
            s.success(
                Duration::from_millis(1 + i as u64),
                now_ns(),
                &Policy::new(&RoutingConfig::default()),
            );
            s
        })
        .collect()
}

/// ns per decision (and its bookkeeping when `full`) over `n` decisions.
fn run(states: &[Arc<DeploymentState>], strategy: Strategy, n: u64, full: bool) -> f64 {
    let p = Policy::new(&RoutingConfig::default());
    let start = Instant::now();
    for _ in 0..n {
        let now = now_ns();
        // As the gateway does: the thread's generator, fetched per decision.
        let c = pick(
            black_box(states),
            0,
            strategy,
            now,
            &p,
            &mut rand::thread_rng(),
        );
        if full && let Choice::Go { index, .. } = c {
            let s = &states[index];
            let guard = s.start();
            s.success(Duration::from_micros(900), now, &p);
            drop(guard);
        }
        black_box(c);
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let n: u64 = args
        .iter()
        .skip_while(|a| *a != "--bench")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    println!("routing decision, median of 7 rounds of {n} (ns per decision)");
    println!(
        "{:<16} {:>5} {:>10} {:>12} {:>14}",
        "strategy", "deps", "pick", "pick+attempt", "2 thr. pick+att."
    );
    for strategy in [
        Strategy::Weighted,
        Strategy::LeastInflight,
        Strategy::Latency,
    ] {
        for deps in [1, 3] {
            let s = states(deps);
            let one = median((0..7).map(|_| run(&s, strategy, n, false)).collect());
            let full = median((0..7).map(|_| run(&s, strategy, n, true)).collect());
            let two = median(
                (0..7)
                    .map(|_| {
                        std::thread::scope(|sc| {
                            let h: Vec<_> = (0..2)
                                .map(|_| sc.spawn(|| run(&s, strategy, n / 2, true)))
                                .collect();
                            h.into_iter()
                                .map(|h| h.join().unwrap_or(f64::NAN))
                                .fold(0.0, f64::max)
                        })
                    })
                    .collect(),
            );
            println!(
                "{:<16} {deps:>5} {one:>10.1} {full:>12.1} {two:>14.1}",
                format!("{strategy:?}")
            );
        }
    }
}
