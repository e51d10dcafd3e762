//! A verified run for people: the rate and settings, the requests, one
//! line per check, the write delay and the verdict. (`--format json` is
//! the [`Outcome`](super::Outcome) serialised.)

use std::fmt::Write;

use super::run::Verified;

impl Verified {
    /// The report `tokctl tune --verify` prints.
    pub fn text(&self) -> String {
        let o = &self.outcome;
        let ob = &o.observed;
        let settings: Vec<_> = self
            .settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "verify: {} QPS for {} s against tokctl serve on 127.0.0.1 ({})",
            ob.qps,
            ob.seconds,
            settings.join(" ")
        );
        let _ = writeln!(
            out,
            "  requests:    {} sent, {} answered, {} 2xx",
            ob.sent, ob.answered, ob.answered_2xx
        );
        for c in &o.checks {
            let _ = writeln!(
                out,
                "  {:<12} {} {}",
                format!("{}:", c.name),
                if c.passed { "ok  " } else { "FAIL" },
                c.detail
            );
        }
        let _ = writeln!(
            out,
            "  write delay: ~{:.0} ms (p99 sampled queue depth {} ÷ {:.0} entries/s arriving; {:.0} rows/s written; {} samples)",
            o.write_delay_ms,
            ob.p99_depth,
            ob.arrival_rate(),
            ob.write_rate,
            ob.samples
        );
        out.push_str(&o.verdict());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::judge::tests::obs;
    use super::super::judge::{Observed, judge};
    use super::*;

    #[test]
    fn the_report_names_every_check_and_ends_with_the_verdict() {
        let outcome = judge(Observed {
            dropped: 2,
            ..obs()
        });
        let v = Verified {
            outcome,
            settings: vec![("batch_size", 8), ("flush_ms", 1000)],
        };
        let text = v.text();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(
            lines[0],
            "verify: 50 QPS for 2 s against tokctl serve on 127.0.0.1 (batch_size=8 flush_ms=1000)"
        );
        assert_eq!(lines[1], "  requests:    100 sent, 100 answered, 100 2xx");
        assert_eq!(lines[4], "  dropped:     FAIL 2 entries dropped");
        assert_eq!(lines.last(), Some(&"did not keep up: dropped"));
        assert!(!text.ends_with('\n'));
    }
}
