//! `tokctl tune --verify`: the decisions behind checking a recommendation
//! against a real gateway. The command starts `tokctl serve` with the
//! config written by [`config_toml`], drives load at the target rate and
//! samples `/metrics`; this module reads what it saw ([`metric`],
//! [`shutdown_counts`]) and judges it ([`judge`]). Nothing here prints or
//! starts processes.

use serde::Serialize;

use super::model::Recommendation;

/// Slack on the write-delay check: the queue depth is sampled every 100 ms.
pub const SAMPLE_SLACK_MS: f64 = 100.0;

/// A buffer peak at or above this share of `buffer_size` fails the check.
pub const PEAK_LIMIT: f64 = 0.8;
/// Bounds of `--verify-seconds`.
pub const MAX_SECONDS: f64 = 600.0;

/// Why a verify run could not be set up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "--verify-override `{0}`: expected KEY=VALUE with KEY one of batch_size, flush_ms, buffer_size, num_workers, on_full"
    )]
    BadOverride(String),
    #[error("--verify-seconds must be in (0, {MAX_SECONDS}], got {0}")]
    BadSeconds(f64),
}

/// A `--verify-override KEY=VALUE` applied to the `[ledger.async]` table.
#[derive(Debug, Clone, PartialEq)]
pub enum Override {
    Number(&'static str, u64),
    OnFullDrop(bool),
}

/// Parses one `--verify-override` (`buffer_size=4`, `on_full=drop`).
pub fn parse_override(s: &str) -> Result<Override, VerifyError> {
    let bad = || VerifyError::BadOverride(s.to_string());
    let (key, value) = s.split_once('=').ok_or_else(bad)?;
    let key = key.trim();
    let value = value.trim();
    if key == "on_full" {
        return match value {
            "drop" => Ok(Override::OnFullDrop(true)),
            "block" => Ok(Override::OnFullDrop(false)),
            _ => Err(bad()),
        };
    }
    let key = ["batch_size", "flush_ms", "buffer_size", "num_workers"]
        .into_iter()
        .find(|k| *k == key)
        .ok_or_else(bad)?;
    let n: u64 = value.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(bad());
    }
    Ok(Override::Number(key, n))
}

/// Checks `--verify-seconds`.
pub fn check_seconds(s: f64) -> Result<f64, VerifyError> {
    if s.is_finite() && s > 0.0 && s <= MAX_SECONDS {
        Ok(s)
    } else {
        Err(VerifyError::BadSeconds(s))
    }
}

/// The `[ledger.async]` values the run uses: the recommendation with the
/// overrides on top (key, value), and whether a full buffer drops.
pub fn async_values(
    r: &Recommendation,
    overrides: &[Override],
) -> (Vec<(&'static str, u64)>, bool) {
    let mut values = vec![
        ("batch_size", r.batch_size.value as u64),
        ("flush_ms", r.flush_ms.value),
        ("buffer_size", r.buffer_size.value as u64),
        ("num_workers", r.num_workers.value as u64),
    ];
    let mut drop = false;
    for o in overrides {
        match o {
            Override::Number(k, n) => {
                if let Some(slot) = values.iter_mut().find(|(key, _)| key == k) {
                    slot.1 = *n;
                }
            }
            Override::OnFullDrop(d) => drop = *d,
        }
    }
    (values, drop)
}

/// The gateway's config for a verify run: loopback on port 0, auth on (the
/// bootstrap admin key is printed at first start), the built-in mock
/// provider (the default config's), `ledger_dsn` for both databases, and
/// the recommended writer and pool settings.
pub fn config_toml(
    r: &Recommendation,
    overrides: &[Override],
    ledger_dsn: &str,
    identity_dsn: &str,
    dead_letter: &str,
) -> String {
    let (values, drop) = async_values(r, overrides);
    let q = |s: &str| toml_quote(s);
    let mut out = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nshutdown_timeout_ms = 10000\n\n\
         [metrics]\nenabled = true\nlisten = \"\"\nport = 0\n\n\
         [auth]\nenabled = true\nbootstrap_admin = true\n\n\
         [db]\nmax_open_conns = {}\nmax_idle_conns = {}\n\n\
         [identity]\npath = {}\n\n\
         [ledger]\npath = {}\ndead_letter_path = {}\n\n\
         [ledger.async]\nenabled = true\non_full = \"{}\"\n",
        r.max_open_conns.value,
        r.max_idle_conns.value,
        q(identity_dsn),
        q(ledger_dsn),
        q(dead_letter),
        if drop { "drop" } else { "block" },
    );
    for (k, v) in values {
        out.push_str(&format!("{k} = {v}\n"));
    }
    // The run judges the in-memory buffer the recommendation sizes; with
    // the spool on, the spool's size would be the bound instead.
    out.push_str("\n[ledger.spool]\nenabled = false\n");
    out
}

fn toml_quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The value of an unlabelled Prometheus sample `name` in `text`.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let rest = rest.strip_prefix(' ').or_else(|| {
            // A labelled sample: skip the label set.
            rest.strip_prefix('{')
                .and_then(|r| r.split_once("} ").map(|(_, v)| v))
        })?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// `(written, dropped)` from the gateway's shutdown log line
/// (`… ledger flushed; bye written=N dropped=M …`).
pub fn shutdown_counts(line: &str) -> Option<(u64, u64)> {
    if !line.contains("ledger flushed") {
        return None;
    }
    let field = |name: &str| {
        line.split(|c: char| c.is_whitespace() || c == ',' || c == '{' || c == '}')
            .find_map(|tok| {
                let tok = tok.trim_matches('"');
                let v = tok
                    .strip_prefix(name)
                    .and_then(|r| r.strip_prefix('=').or_else(|| r.strip_prefix("\":")))?;
                v.trim_matches(|c: char| !c.is_ascii_digit())
                    .parse::<u64>()
                    .ok()
            })
    };
    Some((field("written")?, field("dropped")?))
}

/// Everything a run observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observed {
    pub qps: f64,
    pub seconds: f64,
    pub buffer_size: u64,
    /// The flush interval the run used: entries should be written within it.
    pub flush_ms: u64,
    /// Requests the generator sent (answered or not).
    pub sent: u64,
    /// Requests with any HTTP answer.
    pub answered: u64,
    /// 2xx answers: each must have a ledger row.
    pub answered_2xx: u64,
    /// Rows in the ledger after the gateway exited.
    pub rows: u64,
    /// Entries the writer dropped (shutdown line, else metrics).
    pub dropped: u64,
    /// Highest sampled queue depth.
    pub peak_depth: u64,
    /// p99 of the sampled queue depths.
    pub p99_depth: u64,
    /// Samples taken.
    pub samples: usize,
    /// Rows written per second over the run (written ÷ run time).
    pub write_rate: f64,
}

/// One check and whether it passed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// The judgement of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub observed: Observed,
    /// Buffer peak as a percentage of buffer_size.
    pub peak_percent: f64,
    /// Estimated write delay in ms: p99 queue depth ÷ write rate.
    pub write_delay_ms: f64,
    pub checks: Vec<Check>,
    pub kept_up: bool,
}

impl Outcome {
    /// "kept up" or "did not keep up: <failed checks>".
    pub fn verdict(&self) -> String {
        if self.kept_up {
            "kept up".into()
        } else {
            let failed: Vec<_> = self
                .checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| c.name)
                .collect();
            format!("did not keep up: {}", failed.join(", "))
        }
    }
}

/// Judges a run: every 2xx has a row, nothing dropped, the buffer peak
/// under [`PEAK_LIMIT`] of its size, and every request answered.
///
/// The write delay is estimated as the p99 sampled queue depth divided by
/// the observed write rate (Little's law: time an entry waits behind the
/// queue); it must stay within `flush_ms` plus one sampling interval
/// ([`SAMPLE_SLACK_MS`], the resolution of the depth samples).
pub fn judge(o: Observed) -> Outcome {
    let peak_percent = if o.buffer_size == 0 {
        100.0
    } else {
        o.peak_depth as f64 * 100.0 / o.buffer_size as f64
    };
    let write_delay_ms = if o.write_rate > 0.0 {
        o.p99_depth as f64 / o.write_rate * 1000.0
    } else {
        0.0
    };
    let checks = vec![
        Check {
            name: "answered",
            passed: o.sent > 0 && o.answered_2xx == o.sent,
            detail: format!("{} of {} sent got a 2xx answer", o.answered_2xx, o.sent),
        },
        Check {
            name: "rows",
            passed: o.rows >= o.answered_2xx,
            detail: format!("{} ledger rows for {} 2xx answers", o.rows, o.answered_2xx),
        },
        Check {
            name: "dropped",
            passed: o.dropped == 0,
            detail: format!("{} entries dropped", o.dropped),
        },
        Check {
            name: "buffer peak",
            // No sample means no evidence: it fails rather than passes.
            passed: o.samples > 0 && peak_percent < PEAK_LIMIT * 100.0,
            detail: format!(
                "peak {} of {} buffered ({peak_percent:.1}%, limit {:.0}%)",
                o.peak_depth,
                o.buffer_size,
                PEAK_LIMIT * 100.0
            ),
        },
        Check {
            name: "write delay",
            passed: o.write_rate > 0.0 && write_delay_ms <= o.flush_ms as f64 + SAMPLE_SLACK_MS,
            detail: format!(
                "p99 ~{write_delay_ms:.0} ms (limit flush_ms {} + {SAMPLE_SLACK_MS:.0} ms sampling)",
                o.flush_ms
            ),
        },
    ];
    let kept_up = checks.iter().all(|c| c.passed);
    Outcome {
        observed: o,
        peak_percent,
        write_delay_ms,
        checks,
        kept_up,
    }
}

/// The `q`-quantile (0–1) of `samples` (nearest rank); 0 when empty.
pub fn quantile(samples: &[u64], q: f64) -> u64 {
    if samples.is_empty() {
        return 0;
    }
    let mut s = samples.to_vec();
    s.sort_unstable();
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs() -> Observed {
        Observed {
            qps: 50.0,
            seconds: 2.0,
            buffer_size: 100,
            flush_ms: 1000,
            sent: 100,
            answered: 100,
            answered_2xx: 100,
            rows: 100,
            dropped: 0,
            peak_depth: 10,
            p99_depth: 10,
            samples: 20,
            write_rate: 50.0,
        }
    }

    #[test]
    fn a_clean_run_keeps_up() {
        let o = judge(obs());
        assert!(o.kept_up, "{:?}", o.checks);
        assert_eq!(o.verdict(), "kept up");
        assert!((o.write_delay_ms - 200.0).abs() < 1e-9);
    }

    #[test]
    fn drops_and_a_full_buffer_fail() {
        let o = judge(Observed {
            dropped: 3,
            peak_depth: 90,
            rows: 97,
            ..obs()
        });
        assert!(!o.kept_up);
        assert_eq!(o.verdict(), "did not keep up: rows, dropped, buffer peak");
    }

    #[test]
    fn entries_waiting_longer_than_the_flush_interval_fail() {
        let o = judge(Observed {
            flush_ms: 50,
            ..obs()
        });
        assert_eq!(o.verdict(), "did not keep up: write delay");
    }

    #[test]
    fn no_metrics_samples_is_not_a_pass() {
        let o = judge(Observed {
            samples: 0,
            peak_depth: 0,
            ..obs()
        });
        assert_eq!(o.verdict(), "did not keep up: buffer peak");
    }

    #[test]
    fn reads_metrics_and_the_shutdown_line() {
        let text = "# HELP x\ntokctl_ledger_queue_depth_entries 17\ntokctl_ledger_queue_depth_entries_max 3\n";
        assert_eq!(
            metric(text, "tokctl_ledger_queue_depth_entries"),
            Some(17.0)
        );
        assert_eq!(metric("a{b=\"c\"} 2.5\n", "a"), Some(2.5));
        assert_eq!(
            shutdown_counts(
                "INFO tokctl: ledger flushed; bye written=120 dropped=4 unfinished_requests=0"
            ),
            Some((120, 4))
        );
        assert_eq!(
            shutdown_counts(
                r#"{"fields":{"message":"ledger flushed; bye","written":7,"dropped":0}}"#
            ),
            Some((7, 0))
        );
        assert_eq!(shutdown_counts("listening on 1.2.3.4:5"), None);
    }

    #[test]
    fn overrides_parse_and_apply() {
        assert_eq!(
            parse_override("buffer_size=4"),
            Ok(Override::Number("buffer_size", 4))
        );
        assert_eq!(
            parse_override("on_full=drop"),
            Ok(Override::OnFullDrop(true))
        );
        assert!(parse_override("buffer_size=0").is_err());
        assert!(parse_override("nope=1").is_err());
        assert!(parse_override("buffer_size").is_err());
        assert_eq!(quantile(&[1, 5, 3, 9], 0.99), 9);
        assert_eq!(quantile(&[], 0.5), 0);
    }
}
