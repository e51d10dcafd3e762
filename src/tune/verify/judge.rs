//! The judgement of a `tune --verify` run: what it observed
//! ([`Observed`]), the checks it must pass and the verdict ([`Outcome`]).

use serde::Serialize;

/// Slack on the write-delay check: the queue depth is sampled every 100 ms.
pub const SAMPLE_SLACK_MS: f64 = 100.0;

/// A buffer peak at or above this share of `buffer_size` fails the check.
pub const PEAK_LIMIT: f64 = 0.8;

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

impl Observed {
    /// Entries per second that entered the writer's queue: one per 2xx
    /// answer over the run.
    pub fn arrival_rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.answered_2xx as f64 / self.seconds
        } else {
            0.0
        }
    }
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
/// the rate entries arrived (Little's law: W = L / λ, λ the arrival rate);
/// it must stay within `flush_ms` plus one sampling interval
/// ([`SAMPLE_SLACK_MS`], the resolution of the depth samples). Not the
/// write rate: over a run of a few flush intervals, rows written ÷ run time
/// undercounts by the batch still waiting at the end, which on a busy
/// machine (a longer shutdown) failed runs whose queue never outgrew one
/// flush. A writer that falls behind still fails: its queue, so L, grows.
pub fn judge(o: Observed) -> Outcome {
    let peak_percent = if o.buffer_size == 0 {
        100.0
    } else {
        o.peak_depth as f64 * 100.0 / o.buffer_size as f64
    };
    let arrival = o.arrival_rate();
    let write_delay_ms = if arrival > 0.0 {
        o.p99_depth as f64 / arrival * 1000.0
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
            passed: o.write_rate > 0.0
                && arrival > 0.0
                && write_delay_ms <= o.flush_ms as f64 + SAMPLE_SLACK_MS,
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A run that kept up: 100 sent, answered and written at 50 QPS.
    pub(crate) fn obs() -> Observed {
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
    fn a_short_run_is_judged_by_its_arrival_rate_not_its_tail() {
        // Stress run of 2026-12-07: 100 rows in 2 s, flush 1400 ms, a
        // queue of 69 at most, but the last batch written at a slow
        // shutdown (43.9 rows/s over the run): 69 / 50 = 1380 ms.
        let o = judge(Observed {
            flush_ms: 1400,
            buffer_size: 7100,
            peak_depth: 69,
            p99_depth: 69,
            write_rate: 43.9,
            ..obs()
        });
        assert!(o.kept_up, "{:?}", o.checks);
        assert!((o.write_delay_ms - 1380.0).abs() < 1e-9);
        // A queue that grew to three flush intervals' worth still fails.
        let o = judge(Observed {
            flush_ms: 1400,
            buffer_size: 7100,
            peak_depth: 210,
            p99_depth: 210,
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
}
