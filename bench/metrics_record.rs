//! The hot-path cost of metrics: one `Telemetry`-style record per request
//! (in-flight guard, then the ledger entry recorded), measured on one
//! thread and on two threads at once, with 1 user and with more users than
//! `max_user_series`. Two threads run twice: sharing one shard
//! (`Metrics::record`, for callers without one) and with a shard each, as
//! the gateway's serving workers record.
//!
//! Prints numbers, asserts nothing. `TOKCTL_BENCH_N` sets the requests per
//! thread (default 1,000,000). Run with `cargo bench --bench metrics_record`.

use std::sync::Arc;
use std::time::Instant;

use tokctl::config::Config;
use tokctl::ledger::{Entry, TokenSource, Usage};
use tokctl::telemetry::metrics::{Metrics, Shard};

fn entry(user: i64, streamed: bool) -> Entry {
    Entry {
        request_id: "r".into(),
        created_at_us: 0,
        client_request_id: None,
        upstream_request_id: None,
        user_id: Some(user),
        user_name: None,
        api_key_id: None,
        endpoint: "/v1/chat/completions".into(),
        model: "gpt-4o-mini".into(),
        provider: "mock".into(),
        upstream_model: None,
        usage: Usage {
            input_tokens: 100,
            output_tokens: 50,
            ..Usage::default()
        },
        token_source: TokenSource::Provider,
        cost_nano: 0,
        latency_us: 12_345,
        upstream_latency_us: Some(12_000),
        ttft_us: Some(300),
        overhead_us: Some(345),
        status_code: 200,
        streamed,
        error_kind: None,
        error_message: None,
        chain: None,
        ..Default::default()
    }
}

fn run(m: &Metrics, n: usize, users: i64, shard: Option<Arc<Shard>>) -> f64 {
    let entries: Vec<Entry> = (0..users.max(1)).map(|u| entry(u, u % 2 == 0)).collect();
    let start = Instant::now();
    for i in 0..n {
        let e = &entries[i % entries.len()];
        match &shard {
            Some(s) => {
                let _guard = s.in_flight();
                m.record_in(s, e);
            }
            None => {
                let _guard = m.in_flight();
                m.record(e);
            }
        }
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// Two threads at once; `own` gives each its own shard.
fn two(m: &Arc<Metrics>, n: usize, users: i64, own: bool) -> Vec<f64> {
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let m = m.clone();
            let shard = own.then(|| m.shard());
            std::thread::spawn(move || run(&m, n, users, shard))
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("bench thread"))
        .collect()
}

fn main() {
    let n: usize = std::env::var("TOKCTL_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let config = Config::default();
    for users in [1, 1_000] {
        let m = Arc::new(Metrics::new(&config).expect("registry"));
        println!(
            "1 thread, {users} users (max_user_series {}): {:.0} ns per request",
            config.metrics.max_user_series,
            run(&m, n, users, None)
        );
        let per = two(&m, n, users, false);
        println!(
            "2 threads, {users} users, one shared shard: {per:.0?} ns per request (each thread)"
        );
        let per = two(&m, n, users, true);
        println!("2 threads, {users} users, a shard each: {per:.0?} ns per request (each thread)");
    }
}
