//! `loadtest compare`: two `--json` runs side by side, level by level, with
//! the ratio B/A of each headline number. It does not read files or render.

use super::stats::Report;

/// One metric of one level in both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareRow {
    /// Concurrency of the level (as in run A).
    pub concurrency: usize,
    pub metric: &'static str,
    pub a: f64,
    pub b: f64,
    /// `b / a`; `None` when `a` is zero.
    pub ratio: Option<f64>,
}

/// Pairs levels by position (a sweep compares level with level) and lists
/// req/s, latency quantiles and the error share.
pub fn compare(a: &[Report], b: &[Report]) -> Vec<CompareRow> {
    let mut rows = Vec::new();
    for (ra, rb) in a.iter().zip(b) {
        let metrics: [(&'static str, f64, f64); 8] = [
            ("requests/s", ra.requests_per_s, rb.requests_per_s),
            ("p50 ms", ra.latency_ms.p50, rb.latency_ms.p50),
            ("p90 ms", ra.latency_ms.p90, rb.latency_ms.p90),
            ("p99 ms", ra.latency_ms.p99, rb.latency_ms.p99),
            ("p99.9 ms", ra.latency_ms.p999, rb.latency_ms.p999),
            ("max ms", ra.latency_ms.max, rb.latency_ms.max),
            ("mean ms", ra.latency_ms.mean, rb.latency_ms.mean),
            ("error share", ra.error_share(), rb.error_share()),
        ];
        for (metric, x, y) in metrics {
            rows.push(CompareRow {
                concurrency: ra.concurrency,
                metric,
                a: x,
                b: y,
                ratio: (x != 0.0).then(|| y / x),
            });
        }
    }
    rows
}
