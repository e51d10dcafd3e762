//! Parsing and checking bounds written as `metric<value` / `metric>value`
//! lists: `--fail-on "p99>50ms,errors>0.1%"` (a run fails when any bound is
//! crossed) and `--slo "ttft<500ms,p99<2s"` (a request is good when it meets
//! every bound). It does not measure anything.
//!
//! The two lists share the syntax but not every metric: a goodput bound is
//! about one request, so `errors` and `rps` (properties of a whole run) are
//! refused in `--slo` rather than silently taken as met.

use std::time::Duration;

use super::stats::Report;

/// A list of bounds, parsed from `metric<value,metric>value…`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Criteria {
    pub bounds: Vec<Bound>,
}

/// One `metric op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    pub metric: Metric,
    /// `true` for `>`, `false` for `<`.
    pub greater: bool,
    /// Milliseconds for times, a share (0–1) for `errors`, per second for `rps`.
    pub value: f64,
    /// The bound as written, for messages.
    pub text: String,
}

/// What a bound is about.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// A latency quantile (0.5 … 0.999), or 1.0 for max; -1.0 for mean.
    Latency(f64),
    Ttft,
    InterToken,
    Errors,
    Rps,
}

/// Why a bound list does not parse.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("bad bound `{text}`: {reason}")]
pub struct CriteriaError {
    pub text: String,
    pub reason: String,
}

/// Which `--fail-on` bounds a report crossed.
#[derive(Debug, Default)]
pub struct Verdict {
    pub crossed: Vec<String>,
}

impl Criteria {
    /// Parses a comma-separated list of bounds.
    pub fn parse(s: &str) -> Result<Criteria, CriteriaError> {
        let mut bounds = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            bounds.push(Bound::parse(part)?);
        }
        Ok(Criteria { bounds })
    }

    /// Parses a `--slo` list: like [`Criteria::parse`], but only metrics a
    /// single request has (latency, `ttft`, `itl`); `errors` and `rps`
    /// describe a whole run and would otherwise be met by every request.
    pub fn parse_slo(s: &str) -> Result<Criteria, CriteriaError> {
        let c = Criteria::parse(s)?;
        if let Some(b) = c
            .bounds
            .iter()
            .find(|b| matches!(b.metric, Metric::Errors | Metric::Rps))
        {
            return Err(CriteriaError {
                text: b.text.clone(),
                reason: "a --slo bound is about one request: use p50…max, mean, ttft or itl \
                         (errors and rps belong in --fail-on)"
                    .into(),
            });
        }
        Ok(c)
    }

    /// The first bound that needs streamed answers (`ttft`, `itl`), as
    /// written: such a bound cannot be judged without `--stream`.
    pub fn stream_bound(&self) -> Option<&str> {
        self.bounds
            .iter()
            .find(|b| matches!(b.metric, Metric::Ttft | Metric::InterToken))
            .map(|b| b.text.as_str())
    }

    /// Fails when a bound needs streamed answers and `stream` is off;
    /// `flag` names the list in the message (`--slo`, `--fail-on`).
    pub fn require_stream(&self, stream: bool, flag: &str) -> Result<(), super::LoadError> {
        match self.stream_bound() {
            Some(b) if !stream => Err(super::LoadError::Plan(format!(
                "{flag} bound `{b}` is measured on streamed answers: add --stream"
            ))),
            _ => Ok(()),
        }
    }

    /// The list as written (bounds joined with commas), for run files.
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self.bounds.iter().map(|b| b.text.as_str()).collect();
        parts.join(",")
    }

    /// Whether there are no bounds.
    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// `--fail-on`: the bounds `report` crossed (a `>` bound is crossed when
    /// the value is above it, a `<` bound when below).
    pub fn check(&self, report: &Report) -> Verdict {
        let mut crossed = Vec::new();
        for b in &self.bounds {
            let Some(v) = b.report_value(report) else {
                continue;
            };
            if (b.greater && v > b.value) || (!b.greater && v < b.value) {
                crossed.push(format!("{} (measured {})", b.text, b.show(v)));
            }
        }
        Verdict { crossed }
    }

    /// `--fail-on` over a whole run, one line per failure: each level's
    /// crossed bounds, then each open-loop level whose generator fell
    /// behind its schedule ([`super::GeneratorLag`]): such a level measured
    /// the generator, so its passing the bounds says nothing of the target.
    pub fn check_run(&self, reports: &[Report]) -> Vec<String> {
        let crossed = reports
            .iter()
            .flat_map(|r| self.check(r).crossed)
            .map(|c| format!("threshold crossed: {c}"));
        let late = super::lag_failures(reports)
            .into_iter()
            .map(|l| format!("generator behind schedule: {l}"));
        crossed.chain(late).collect()
    }

    /// `--slo`: whether one request met every bound (`<` means "at most").
    /// Latency quantile metrics apply to the request's own latency.
    /// `ttft_ms` is `None` when the answer carried no token at all: that
    /// fails a `ttft` bound and an `itl` bound (no token came in time).
    /// `itl_ms` is `None` with a single token (no gap): an `itl` bound is
    /// then met. `errors`/`rps` cannot be here ([`Criteria::parse_slo`]);
    /// should one be, it fails rather than flatters.
    pub fn request_meets(
        &self,
        latency_ms: f64,
        ttft_ms: Option<f64>,
        itl_ms: Option<f64>,
    ) -> bool {
        let within = |b: &Bound, v: f64| if b.greater { v > b.value } else { v <= b.value };
        self.bounds.iter().all(|b| match b.metric {
            Metric::Latency(_) => within(b, latency_ms),
            Metric::Ttft => ttft_ms.is_some_and(|v| within(b, v)),
            Metric::InterToken => match itl_ms {
                Some(v) => within(b, v),
                None => ttft_ms.is_some(),
            },
            Metric::Errors | Metric::Rps => false,
        })
    }
}

impl Bound {
    fn parse(text: &str) -> Result<Bound, CriteriaError> {
        let err = |reason: &str| CriteriaError {
            text: text.to_string(),
            reason: format!("{reason} (expected e.g. \"p99>50ms,errors>0.1%\")"),
        };
        let (pos, greater) = match (text.find('>'), text.find('<')) {
            (Some(p), None) => (p, true),
            (None, Some(p)) => (p, false),
            _ => return Err(err("needs exactly one of `<` or `>`")),
        };
        let name = text[..pos].trim().to_ascii_lowercase();
        let raw = text[pos + 1..].trim();
        let metric = match name.as_str() {
            "p50" => Metric::Latency(0.5),
            "p90" => Metric::Latency(0.9),
            "p95" => Metric::Latency(0.95),
            "p99" => Metric::Latency(0.99),
            "p99.9" | "p999" => Metric::Latency(0.999),
            "max" => Metric::Latency(1.0),
            "mean" => Metric::Latency(-1.0),
            "ttft" => Metric::Ttft,
            "itl" => Metric::InterToken,
            "errors" => Metric::Errors,
            "rps" => Metric::Rps,
            _ => {
                return Err(err(
                    "unknown metric (p50 p90 p95 p99 p99.9 max mean ttft itl errors rps)",
                ));
            }
        };
        let value = match metric {
            Metric::Errors => match raw.strip_suffix('%') {
                Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
                None => raw.parse::<f64>(),
            }
            .map_err(|_| err("errors take a share like 0.1% or 0.001"))?,
            Metric::Rps => raw.parse::<f64>().map_err(|_| err("rps takes a number"))?,
            _ => humantime::parse_duration(raw)
                .map(|d: Duration| d.as_secs_f64() * 1000.0)
                .map_err(|_| err("times take a unit, like 50ms or 2s"))?,
        };
        Ok(Bound {
            metric,
            greater,
            value,
            text: text.to_string(),
        })
    }

    fn report_value(&self, r: &Report) -> Option<f64> {
        let l = &r.latency_ms;
        let q = |l: &super::Latency, q: f64| match q {
            x if x < 0.0 => l.mean,
            x if x >= 1.0 => l.max,
            x if x >= 0.999 => l.p999,
            x if x >= 0.99 => l.p99,
            x if x >= 0.95 => l.p95,
            x if x >= 0.9 => l.p90,
            _ => l.p50,
        };
        Some(match self.metric {
            Metric::Latency(x) => q(l, x),
            Metric::Ttft => r.stream.as_ref().map(|s| s.ttft_ms.p50)?,
            Metric::InterToken => r.stream.as_ref().map(|s| s.inter_token_ms.p50)?,
            Metric::Errors => r.error_share(),
            Metric::Rps => r.requests_per_s,
        })
    }

    fn show(&self, v: f64) -> String {
        match self.metric {
            Metric::Errors => format!("{:.3}%", v * 100.0),
            Metric::Rps => format!("{v:.1}/s"),
            _ => format!("{v:.2}ms"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_thresholds_with_units() {
        let c = Criteria::parse("p99>50ms, errors>0.1%,p99.9>2s,rps<100").expect("valid list");
        assert_eq!(c.bounds.len(), 4);
        assert_eq!(c.bounds[0].metric, Metric::Latency(0.99));
        assert!(c.bounds[0].greater);
        assert!((c.bounds[0].value - 50.0).abs() < 1e-9);
        assert!((c.bounds[1].value - 0.001).abs() < 1e-12);
        assert!((c.bounds[2].value - 2000.0).abs() < 1e-9);
        assert!(!c.bounds[3].greater);
    }

    #[test]
    fn rejects_bad_bounds() {
        for bad in ["p99", "p98>1ms", "p99>50", "errors>lots", "p99<>1ms"] {
            assert!(Criteria::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn slo_checks_each_request() {
        let slo = Criteria::parse("ttft<500ms,p99<2s").expect("valid slo");
        assert!(slo.request_meets(1500.0, Some(400.0), None));
        assert!(!slo.request_meets(2500.0, Some(400.0), None));
        assert!(!slo.request_meets(100.0, Some(600.0), None));
        // A streamed answer without a single token misses a ttft bound.
        assert!(!slo.request_meets(100.0, None, None));
        let itl = Criteria::parse_slo("itl<50ms").expect("valid slo");
        assert!(itl.request_meets(100.0, Some(10.0), Some(40.0)));
        assert!(!itl.request_meets(100.0, Some(10.0), Some(60.0)));
        assert!(
            itl.request_meets(100.0, Some(10.0), None),
            "one token, no gap"
        );
        assert!(!itl.request_meets(100.0, None, None), "no token at all");
    }

    #[test]
    fn slo_refuses_run_wide_metrics() {
        for bad in ["errors<1%", "p99<2s,rps>100"] {
            let e = Criteria::parse_slo(bad).expect_err(bad);
            assert!(e.to_string().contains("--fail-on"), "{e}");
        }
        let ok = Criteria::parse_slo("ttft<500ms, p99<2s").expect("valid slo");
        assert_eq!(ok.stream_bound(), Some("ttft<500ms"));
        assert_eq!(ok.text(), "ttft<500ms,p99<2s");
        assert_eq!(
            Criteria::parse_slo("p99<2s").expect("valid").stream_bound(),
            None
        );
    }

    #[test]
    fn fail_on_reports_crossed_bounds() {
        let c = Criteria::parse("p99>50ms,errors>1%").expect("valid list");
        let mut r = Report::build(
            &super::super::Results::default(),
            1,
            None,
            false,
            false,
            Duration::from_secs(1),
            false,
        );
        r.latency_ms.p99 = 60.0;
        r.requests = 100;
        r.failures = 1;
        let v = c.check(&r);
        assert_eq!(v.crossed.len(), 1, "{:?}", v.crossed);
        assert!(v.crossed[0].starts_with("p99>50ms"));
    }
}
