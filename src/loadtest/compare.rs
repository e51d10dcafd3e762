//! `loadtest compare`: two `--json` runs side by side, level by level, with
//! the ratio B/A of each headline number. It does not read files or render.
//!
//! Levels are matched on what they are (closed or open loop, concurrency,
//! rate), not on their position: a sweep run as `-c 10,50` and one run as
//! `-c 50,10` compare 10 with 10 and 50 with 50, and a level only one run
//! has is listed, not paired with whatever sits in its place.

use super::body::{RunFile, RunOptions};
use super::stats::Report;

/// One metric of one level in both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareRow {
    /// The level, e.g. `c=10` or `c=4 @100/s`.
    pub level: String,
    pub metric: &'static str,
    pub a: f64,
    pub b: f64,
    /// `b / a`; `None` when `a` is zero.
    pub ratio: Option<f64>,
}

/// What `compare` found: rows for matched levels, the levels only one run
/// has, and the run options that differ (each `name: A …, B …`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Comparison {
    pub rows: Vec<CompareRow>,
    pub only_a: Vec<String>,
    pub only_b: Vec<String>,
    pub option_diffs: Vec<String>,
}

/// The identity of a level: mode, concurrency and (open loop) rate.
fn key(r: &Report) -> (String, usize, Option<u64>) {
    // Rates compared to the thousandth, so 100 and 100.0 are one level.
    let rate = r
        .open_loop
        .as_ref()
        .map(|o| (o.rate * 1000.0).round() as u64);
    (r.mode.clone(), r.concurrency, rate)
}

fn label(r: &Report) -> String {
    match &r.open_loop {
        Some(o) => format!("c={} @{}/s", r.concurrency, o.rate),
        None => format!("c={}", r.concurrency),
    }
}

/// Pairs the levels of `a` and `b` that are the same level and lists
/// req/s, latency quantiles and the error share; with both runs streamed,
/// TTFT, inter-token latency and tokens/s; with both under `--slo`, goodput.
pub fn compare(a: &RunFile, b: &RunFile) -> Comparison {
    let mut out = Comparison::default();
    let mut used = vec![false; b.runs.len()];
    for ra in &a.runs {
        let found = b
            .runs
            .iter()
            .enumerate()
            .find(|(i, rb)| !used[*i] && key(rb) == key(ra));
        let Some((i, rb)) = found else {
            out.only_a.push(label(ra));
            continue;
        };
        used[i] = true;
        level_rows(ra, rb, &mut out.rows);
    }
    for (rb, used) in b.runs.iter().zip(used) {
        if !used {
            out.only_b.push(label(rb));
        }
    }
    if let (Some(oa), Some(ob)) = (&a.options, &b.options) {
        out.option_diffs = option_diffs(oa, ob);
    }
    out
}

fn level_rows(ra: &Report, rb: &Report, rows: &mut Vec<CompareRow>) {
    let mut metrics: Vec<(&'static str, f64, f64)> = vec![
        ("requests/s", ra.requests_per_s, rb.requests_per_s),
        ("p50 ms", ra.latency_ms.p50, rb.latency_ms.p50),
        ("p90 ms", ra.latency_ms.p90, rb.latency_ms.p90),
        ("p99 ms", ra.latency_ms.p99, rb.latency_ms.p99),
        ("p99.9 ms", ra.latency_ms.p999, rb.latency_ms.p999),
        ("max ms", ra.latency_ms.max, rb.latency_ms.max),
        ("mean ms", ra.latency_ms.mean, rb.latency_ms.mean),
        ("error share", ra.error_share(), rb.error_share()),
    ];
    if let (Some(sa), Some(sb)) = (&ra.stream, &rb.stream) {
        metrics.extend([
            ("ttft p50 ms", sa.ttft_ms.p50, sb.ttft_ms.p50),
            ("ttft p99 ms", sa.ttft_ms.p99, sb.ttft_ms.p99),
            (
                "inter-token p50 ms",
                sa.inter_token_ms.p50,
                sb.inter_token_ms.p50,
            ),
            (
                "output tokens/s",
                sa.output_tokens_per_s,
                sb.output_tokens_per_s,
            ),
        ]);
    }
    if let (Some(ga), Some(gb)) = (ra.goodput, rb.goodput) {
        metrics.push(("goodput", ga, gb));
    }
    let level = label(ra);
    for (metric, x, y) in metrics {
        rows.push(CompareRow {
            level: level.clone(),
            metric,
            a: x,
            b: y,
            ratio: (x != 0.0).then(|| y / x),
        });
    }
}

/// The options that differ, each as `name: A value, B value`, values as
/// written on a command line (`3/s`, `10s`, `none`), never `Some(3.0)`.
fn option_diffs(a: &RunOptions, b: &RunOptions) -> Vec<String> {
    fn opt<T>(v: Option<T>, f: impl Fn(T) -> String, none: &str) -> String {
        v.map_or_else(|| none.to_string(), f)
    }
    let secs = |s: f64| format!("{s}s");
    let views = |o: &RunOptions| {
        [
            (
                "rate",
                opt(o.rate, |r| format!("{r}/s"), "none (closed loop)"),
            ),
            ("stream", o.stream.to_string()),
            ("slo", opt(o.slo.clone(), |s| s, "none")),
            ("warmup", secs(o.warmup_s)),
            ("duration", opt(o.duration_s, secs, "none (--requests)")),
            (
                "requests",
                opt(o.requests, |n| n.to_string(), "none (--duration)"),
            ),
            ("timeout", secs(o.timeout_s)),
        ]
    };
    views(a)
        .into_iter()
        .zip(views(b))
        .filter(|((_, x), (_, y))| x != y)
        .map(|((name, x), (_, y))| format!("{name}: A {x}, B {y}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::loadtest::Results;

    fn level(concurrency: usize, rate: Option<f64>, rps: f64) -> Report {
        let mut r = Report::build(
            &Results::default(),
            concurrency,
            rate,
            false,
            false,
            Duration::from_secs(1),
            false,
        );
        r.requests_per_s = rps;
        r
    }

    fn file(runs: Vec<Report>) -> RunFile {
        RunFile {
            version: 1,
            target: "http://x".into(),
            options: None,
            runs,
        }
    }

    #[test]
    fn levels_pair_by_what_they_are_not_their_place() {
        let a = file(vec![
            level(10, None, 100.0),
            level(50, None, 400.0),
            level(4, Some(20.0), 20.0),
        ]);
        let b = file(vec![
            level(50, None, 200.0),
            level(4, Some(30.0), 30.0),
            level(10, None, 50.0),
        ]);
        let c = compare(&a, &b);
        let rps: Vec<(&str, Option<f64>)> = c
            .rows
            .iter()
            .filter(|r| r.metric == "requests/s")
            .map(|r| (r.level.as_str(), r.ratio))
            .collect();
        assert_eq!(rps, vec![("c=10", Some(0.5)), ("c=50", Some(0.5))]);
        assert_eq!(c.only_a, vec!["c=4 @20/s"]);
        assert_eq!(c.only_b, vec!["c=4 @30/s"]);
    }

    #[test]
    fn options_show_as_values() {
        let o = |rate, requests| RunOptions {
            concurrency: vec![1],
            rate,
            stream: false,
            slo: None,
            warmup_s: 0.0,
            duration_s: None,
            requests,
            timeout_s: 30.0,
            threads: None,
        };
        let d = option_diffs(&o(Some(3.0), Some(10)), &o(None, Some(20)));
        assert_eq!(
            d,
            vec!["rate: A 3/s, B none (closed loop)", "requests: A 10, B 20"]
        );
    }
}
