//! Rendering for `tokctl loadtest`: the live progress bar (stderr, only on a
//! terminal) and the comfy-table reports. No measurement or verdict here.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokctl::loadtest::{Comparison, GeneratorLag, Latency, Rate, Report, Tick};

use crate::render::{Col, Tab, bytes, count, latency_ms, sig3};

/// A progress bar showing live requests/s, errors and p99.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn new() -> Progress {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar }
    }

    pub fn tick(&self, t: &Tick) {
        if let Some(p) = t.planned {
            self.bar.set_length(p.as_secs());
        }
        self.bar.set_position(t.elapsed.as_secs());
        self.bar.set_message(format!(
            "c={} {} req/s, {} requests, {} errors, p99 {:.1} ms",
            t.concurrency, t.last_second, t.requests, t.failures, t.p99_ms
        ));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn ms(v: f64) -> String {
    latency_ms(v)
}

/// One row per level: counts, rate, latency quantiles, bytes received.
pub fn report_table(reports: &[Report]) -> Tab {
    let mut t = Tab::new(&[
        ("conc", Col::Num),
        ("requests", Col::Num),
        ("ok", Col::Num),
        ("failed", Col::Num),
        ("req/s", Col::Num),
        ("p50", Col::Num),
        ("p90", Col::Num),
        ("p99", Col::Num),
        ("p99.9", Col::Num),
        ("max", Col::Num),
        ("mean", Col::Num),
        ("received", Col::Num),
    ]);
    for r in reports {
        let l = &r.latency_ms;
        t.row([
            count(r.concurrency as u64),
            count(r.requests),
            count(r.successes),
            count(r.failures),
            sig3(r.requests_per_s),
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.max),
            ms(l.mean),
            bytes(r.bytes_received),
        ]);
    }
    t
}

/// One row per level, then status codes, errors and the open-loop/stream details.
pub fn report(reports: &[Report], open: bool, stream: bool) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let t = report_table(reports);
    let _ = writeln!(o, "{t}");
    for r in reports {
        let codes: Vec<String> = r
            .status_codes
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let errs: Vec<String> = r.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = writeln!(
            o,
            "c={}: status {{{}}} errors {{{}}}{}",
            r.concurrency,
            codes.join(", "),
            errs.join(", "),
            r.goodput
                .map(|g| format!(" goodput {:.1}%", g * 100.0))
                .unwrap_or_default()
        );
        let _ = writeln!(
            o,
            "  interrupted   {} (no outcome when the run stopped: in flight, or due and unsent)",
            r.interrupted_requests
        );
        if open && let Some(ol) = &r.open_loop {
            let _ = writeln!(
                o,
                "  open loop at {}/s: response time above is from the intended start",
                ol.rate
            );
            let _ = writeln!(o, "  service time  {}", line(&ol.service_time_ms));
            let _ = writeln!(o, "  behind sched. {}", line(&ol.behind_ms));
            let _ = writeln!(
                o,
                "  generator     {} CPU cores, {} load threads",
                ol.cpu_cores, ol.threads
            );
            if let Some(lag) = GeneratorLag::of(r) {
                let _ = writeln!(o, "  warning: {lag}");
            }
        }
        if stream && let Some(s) = &r.stream {
            let _ = writeln!(o, "  ttft          {}", line(&s.ttft_ms));
            let _ = writeln!(o, "  inter-token   {}", line(&s.inter_token_ms));
            let _ = writeln!(
                o,
                "  output tokens {} ({} answers with usage, {} chunks), {:.1} tokens/s",
                s.output_tokens, s.answers_with_usage, s.chunks, s.output_tokens_per_s
            );
            let _ = writeln!(
                o,
                "  tokens/s per request {}",
                rate(&s.output_tokens_per_s_per_request)
            );
        }
    }
    o
}

fn line(l: &Latency) -> String {
    format!(
        "p50 {} p90 {} p99 {} p99.9 {} max {} mean {}",
        ms(l.p50),
        ms(l.p90),
        ms(l.p99),
        ms(l.p999),
        ms(l.max),
        ms(l.mean)
    )
}

fn rate(r: &Rate) -> String {
    format!(
        "min {:.1} p1 {:.1} p50 {:.1} p99 {:.1} max {:.1} mean {:.1}",
        r.min, r.p1, r.p50, r.p99, r.max, r.mean
    )
}

/// One row per level and metric: A, B and B/A.
pub fn compare_table(c: &Comparison) -> Tab {
    let mut t = Tab::new(&[
        ("level", Col::Atom),
        ("metric", Col::Atom),
        ("A", Col::Num),
        ("B", Col::Num),
        ("B/A", Col::Num),
    ]);
    for r in &c.rows {
        t.row([
            r.level.clone(),
            r.metric.to_string(),
            sig3(r.a),
            sig3(r.b),
            r.ratio.map_or("-".into(), |x| format!("{x:.3}")),
        ]);
    }
    t
}

/// Two runs side by side, then the levels only one has and the options
/// that differ.
pub fn compare(c: &Comparison) -> String {
    use std::fmt::Write;
    let t = compare_table(c);
    let mut o = format!("{t}\n");
    for (side, levels) in [("A", &c.only_a), ("B", &c.only_b)] {
        if !levels.is_empty() {
            let _ = writeln!(o, "only in {side}: {}", levels.join(", "));
        }
    }
    for d in &c.option_diffs {
        let _ = writeln!(o, "options differ: {d}");
    }
    o
}

/// A comparison as JSON: raw numbers, for scripts.
pub fn compare_json(c: &Comparison) -> serde_json::Value {
    let rows: Vec<_> = c
        .rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "level": r.level, "metric": r.metric, "a": r.a, "b": r.b, "ratio": r.ratio,
            })
        })
        .collect();
    serde_json::json!({
        "rows": rows,
        "only_a": c.only_a,
        "only_b": c.only_b,
        "option_diffs": c.option_diffs,
    })
}
