//! `tokctl loadtest compare A.json B.json`: two saved runs side by side,
//! as a table with ratios or as JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use tokctl::loadtest::{self, Comparison, RunFile};

use crate::output::{self, FormatArgs, Report};
use crate::render::{Col, Tab, sig3};
use crate::{CmdResult, Failure, exit};

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Show two `--format json` results side by side with ratios (B/A).
    #[command(
        after_help = "Examples:\n  tokctl loadtest -c 50 --json > before.json; tokctl loadtest -c 50 --json > after.json\n  \
        tokctl loadtest compare before.json after.json"
    )]
    Compare {
        /// The first run (`tokctl loadtest --format json` output): the baseline, A.
        #[arg(value_name = "A.json")]
        a: PathBuf,
        /// The second run, B; ratios are B/A.
        #[arg(value_name = "B.json")]
        b: PathBuf,
        #[command(flatten)]
        format: FormatArgs<Report>,
    },
}

pub fn run(action: Action) -> CmdResult {
    let Action::Compare { a, b, format } = action;
    let (ra, rb) = (
        RunFile::read(&a).map_err(usage)?,
        RunFile::read(&b).map_err(usage)?,
    );
    let c = loadtest::compare(&ra, &rb);
    match format.get() {
        Report::Table => crate::loadtest_run::out(&compare(&c))?,
        Report::Json => output::json(&compare_json(&c))?,
    }
    Ok(ExitCode::SUCCESS)
}

fn usage(e: loadtest::BodyError) -> Failure {
    Failure::new(exit::USAGE, crate::chain(&e))
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
