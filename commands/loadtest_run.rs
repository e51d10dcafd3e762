//! Running a `tokctl loadtest` plan: Ctrl-C stops it early, a progress
//! bar on a terminal, the report on stdout (table or JSON), the histogram
//! log, the notes on stderr, and exit 1 when a `--fail-on` bound is crossed
//! or every request of a level failed.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use tokctl::loadtest::{self, Criteria, ModelChoice, Plan, RunFile, Tick};
use tokio_util::sync::CancellationToken;

use crate::loadtest_render as render;

use std::time::Duration;

use crate::{CmdResult, Failure, exit};
use indicatif::{ProgressBar, ProgressStyle};

/// What the run reports and how.
pub struct How {
    /// The model picked for the caller, said after the run.
    pub chosen: Option<ModelChoice>,
    pub hdr_out: Option<PathBuf>,
    pub fail_on: Option<Criteria>,
    pub json: bool,
}

pub async fn run(plan: &Plan, how: How) -> CmdResult {
    let mut hdr_file = match &how.hdr_out {
        Some(path) => Some(std::fs::File::create(path).map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!("cannot create the histogram log {}: {e}", path.display()),
            )
        })?),
        None => None,
    };
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    let progress = std::io::stderr().is_terminal().then(Progress::new);
    let on_tick = |t: &Tick| {
        if let Some(p) = &progress {
            p.tick(t);
        }
    };
    let (reports, intervals, started) =
        loadtest::run(plan, &cancel, &on_tick).await.map_err(|e| {
            let refused = matches!(e, loadtest::LoadError::Refused(_));
            let mut f = crate::loadtest::load(e);
            if let (true, Some(c)) = (refused, &how.chosen) {
                f.message += &format!(" (model `{}`: {})", c.model, c.why);
            }
            f
        })?;
    if let Some(p) = &progress {
        p.finish();
    }
    if how.json {
        let doc = RunFile::new(plan, reports.clone());
        let text = serde_json::to_string_pretty(&doc)
            .map_err(|e| Failure::new(exit::FAILURE, e.to_string()))?;
        out(&text)?;
    } else {
        out(&render::report(&reports, plan.rate.is_some(), plan.stream))?;
    }
    // After the report, so a failing disk cannot cost the measurements.
    if let (Some(path), Some(file)) = (&how.hdr_out, hdr_file.as_mut()) {
        let levels: Vec<_> = plan.concurrency.iter().copied().zip(intervals).collect();
        let shown = path.display().to_string();
        loadtest::write_hdr_log(file, &shown, &levels, started).map_err(crate::loadtest::load)?;
    }
    if let Some(c) = &how.chosen {
        eprintln!("model: {} ({}; --model to choose)", c.model, c.why);
    }
    if reports.iter().any(|r| r.interrupted) {
        eprintln!("interrupted: partial results above");
    }
    if how.json {
        // The text report carries these; JSON keeps stdout parseable.
        for lag in reports.iter().filter_map(loadtest::GeneratorLag::of) {
            eprintln!("warning: {lag}");
        }
    }
    let mut crossed = how
        .fail_on
        .as_ref()
        .map_or_else(Vec::new, |c| c.check_run(&reports));
    crossed.extend(loadtest::all_failed(&reports));
    for c in &crossed {
        eprintln!("{c}");
    }
    Ok(if crossed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILURE)
    })
}

/// Writes to stdout; a closed pipe becomes an error `main` treats as success.
pub fn out(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    writeln!(std::io::stdout(), "{}", text.trim_end())
        .map_err(|e| Failure::new(exit::FAILURE, e.to_string()))
}

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
