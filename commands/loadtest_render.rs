//! Rendering a `tokctl loadtest` run's reports: the table of levels and
//! the lines under it. No measurement or verdict here.

use tokctl::loadtest::{GeneratorLag, Latency, Rate, Report};

use crate::render::{Col, Tab, bytes, count, latency_ms, sig3};

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
