//! `tokctl tune --measure` on the terminal: the progress bar over the
//! benchmark's time budget and the warnings on stderr (the library's
//! [`plan::Watch`]), and the table of the measured samples.

use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokctl::tune::measure::{Measurement, Progress};
use tokctl::tune::plan;

use crate::render::{Col, Tab, count, latency_ms, sig3};

/// Warnings and the progress bar on stderr (the bar hidden when stderr
/// is not a terminal).
#[derive(Default)]
pub struct Stderr {
    bar: OnceLock<ProgressBar>,
}

impl Stderr {
    /// Clears the bar once the benchmark is done.
    pub fn finish(&self) {
        if let Some(b) = self.bar.get() {
            b.finish_and_clear();
        }
    }
}

impl plan::Watch for Stderr {
    fn warn(&self, warning: String) {
        eprintln!("warning: {warning}");
    }

    fn start(&self, total: Duration) {
        let bar = ProgressBar::new(total.as_millis() as u64);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.set_style(
            ProgressStyle::with_template("{spinner} measuring {msg} [{bar:30}] {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let _ = self.bar.set(bar);
    }

    fn progress(&self, p: Progress) {
        if let Some(bar) = self.bar.get() {
            bar.set_position(p.elapsed.as_millis() as u64);
            bar.set_message(format!("{}/{}: {}", p.run, p.runs, p.label));
        }
    }
}

/// One row per benchmark run: batch, workers, rates and flush times.
pub fn samples(m: &Measurement) -> Tab {
    let mut out = Tab::new(&[
        ("batch", Col::Num),
        ("workers", Col::Num),
        ("entries/s", Col::Num),
        ("per worker", Col::Num),
        ("flush p50", Col::Num),
        ("flush p99", Col::Num),
    ]);
    for s in &m.samples {
        out.row([
            count(s.batch_size as u64),
            count(s.workers as u64),
            sig3(s.entries_per_second),
            sig3(s.entries_per_second_per_worker),
            latency_ms(s.flush_p50_ms),
            latency_ms(s.flush_p99_ms),
        ]);
    }
    out
}
