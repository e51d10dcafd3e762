//! Whether an open-loop level measured its target or its own generator:
//! when the requests went out later than their intended starts
//! (`behind_ms`) by more than [`MAX_BEHIND_P99_MS`] at p99, the latency,
//! which counts from the intended start, holds the generator's lag, and the
//! run says so, with what to change. It does not print (the command does).

use std::fmt;

use super::stats::Report;

/// The generator's lag (`behind_ms` p99) above which a level is reported as
/// having measured the generator. Half a millisecond: the gateway overheads
/// this tool exists to show are of that order, and a precise pacer keeps
/// its p99 lag well under it on an idle machine (docs/benchmarks.md).
pub const MAX_BEHIND_P99_MS: f64 = 0.5;

/// What would most likely keep the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// The connections were busy: at the service time's p99 the rate keeps
    /// about `needed / 2` of them in use (Little's law), so requests waited
    /// for a free one. Raise `-c` to `needed`.
    Connections { needed: usize },
    /// The generator itself was late (starved of CPU, or too few threads
    /// for the rate): try `--threads suggested`.
    Threads { suggested: usize },
    /// One core and one thread: nothing to change but the machine.
    OtherMachine,
}

/// A level whose generator fell behind its schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorLag {
    pub concurrency: usize,
    pub rate: f64,
    pub behind_p99_ms: f64,
    pub cpu_cores: usize,
    pub threads: usize,
    pub remedy: Remedy,
}

impl GeneratorLag {
    /// The lag of an open-loop level, when it exceeds [`MAX_BEHIND_P99_MS`]
    /// (and the level measured any request).
    pub fn of(r: &Report) -> Option<GeneratorLag> {
        let ol = r.open_loop.as_ref()?;
        let p99 = ol.behind_ms.p99;
        if r.requests == 0 || p99 <= MAX_BEHIND_P99_MS {
            return None;
        }
        // Connections the schedule keeps busy at the service time's p99.
        let busy = ol.rate * ol.service_time_ms.p99 / 1000.0;
        let remedy = if busy * 2.0 > r.concurrency as f64 {
            Remedy::Connections {
                needed: (busy * 2.0).ceil() as usize,
            }
        } else if ol.threads >= ol.cpu_cores && ol.cpu_cores > 1 {
            // Every core had a load thread: leave the target one.
            Remedy::Threads {
                suggested: ol.cpu_cores - 1,
            }
        } else if ol.threads < ol.cpu_cores && ol.threads < r.concurrency {
            Remedy::Threads {
                suggested: ol.cpu_cores.min(r.concurrency),
            }
        } else {
            Remedy::OtherMachine
        };
        Some(GeneratorLag {
            concurrency: r.concurrency,
            rate: ol.rate,
            behind_p99_ms: p99,
            cpu_cores: ol.cpu_cores,
            threads: ol.threads,
            remedy,
        })
    }
}

impl fmt::Display for GeneratorLag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "c={} at {}/s: the generator sent late (behind schedule p99 {:.2} ms > {} ms), so the \
             latency above measures the generator, not the target; the run had {} CPU cores and \
             {} load threads. ",
            self.concurrency,
            self.rate,
            self.behind_p99_ms,
            MAX_BEHIND_P99_MS,
            self.cpu_cores,
            self.threads
        )?;
        match self.remedy {
            Remedy::Connections { needed } => {
                write!(f, "Every connection was busy: raise -c to {needed} or more")
            }
            Remedy::Threads { suggested } => write!(
                f,
                "Try --threads {suggested} (on a machine shared with the target, leave it a \
                 core), or run the generator on another machine"
            ),
            Remedy::OtherMachine => {
                write!(f, "Run the generator on a machine of its own")
            }
        }
    }
}

/// `--fail-on`: one line per level whose generator fell behind; a run
/// that measured its generator fails like a crossed bound.
pub fn lag_failures(reports: &[Report]) -> Vec<String> {
    reports
        .iter()
        .filter_map(GeneratorLag::of)
        .map(|l| l.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::loadtest::Results;

    fn open(
        c: usize,
        rate: f64,
        behind_p99: f64,
        service_p99: f64,
        cores: usize,
        threads: usize,
    ) -> Report {
        let mut r = Report::build(
            &Results::default(),
            c,
            Some(rate),
            false,
            false,
            Duration::from_secs(1),
            false,
        );
        r.requests = 100;
        let ol = r.open_loop.as_mut().expect("open loop");
        ol.behind_ms.p99 = behind_p99;
        ol.service_time_ms.p99 = service_p99;
        ol.cpu_cores = cores;
        ol.threads = threads;
        r
    }

    #[test]
    fn a_schedule_kept_within_half_a_millisecond_is_fine() {
        assert_eq!(GeneratorLag::of(&open(50, 2000.0, 0.5, 0.3, 2, 2)), None);
        assert!(lag_failures(&[open(50, 200.0, 0.04, 0.3, 2, 2)]).is_empty());
        // Closed loop has no schedule.
        let closed = Report::build(
            &Results::default(),
            10,
            None,
            false,
            false,
            Duration::from_secs(1),
            false,
        );
        assert_eq!(GeneratorLag::of(&closed), None);
    }

    #[test]
    fn busy_connections_ask_for_more_connections() {
        // 100/s of 50 ms answers keep 5 connections busy; 1 was given.
        let lag = GeneratorLag::of(&open(1, 100.0, 40.0, 50.0, 2, 1)).expect("late");
        assert_eq!(lag.remedy, Remedy::Connections { needed: 10 });
        assert!(lag.to_string().contains("raise -c to 10"), "{lag}");
    }

    #[test]
    fn a_late_generator_gets_a_thread_count_and_the_cores() {
        let lag = GeneratorLag::of(&open(50, 2000.0, 3.0, 0.3, 2, 2)).expect("late");
        assert_eq!(lag.remedy, Remedy::Threads { suggested: 1 });
        let text = lag.to_string();
        assert!(text.contains("2 CPU cores and 2 load threads"), "{text}");
        assert!(text.contains("--threads 1"), "{text}");
        let fewer = GeneratorLag::of(&open(50, 2000.0, 3.0, 0.3, 4, 1)).expect("late");
        assert_eq!(fewer.remedy, Remedy::Threads { suggested: 4 });
        let alone = GeneratorLag::of(&open(50, 2000.0, 3.0, 0.3, 1, 1)).expect("late");
        assert_eq!(alone.remedy, Remedy::OtherMachine);
        assert_eq!(lag_failures(&[open(50, 2000.0, 3.0, 0.3, 2, 2)]).len(), 1);
    }
}
