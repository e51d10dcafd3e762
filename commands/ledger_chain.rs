//! `tokctl ledger verify`: checking the hash chains (the spool's commands
//! are in `ledger_spool`).

use std::io::IsTerminal;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use tokctl::ledger::chain::verify;
use tokctl::ledger::chain::{ChainKey, head};

use crate::cli::GlobalArgs;
use crate::output::{self, FormatArgs, Report};
use crate::{CmdResult, Failure, exit};

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Only this gateway instance's chain (default: every chain in the ledger).
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
    /// Start after this sequence number, in every chain (links into it are not checked).
    #[arg(
        long,
        value_name = "SEQ",
        default_value_t = 0,
        conflicts_with = "since"
    )]
    pub from_seq: i64,
    /// Check every entry created since WHEN, an RFC 3339 time or a duration before now
    /// (24h, 7d): each chain is walked from its first entry since then. A bare number
    /// is refused: a sequence number is --from-seq.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// A chain head file to check its chain against (repeatable: other instances' head files);
    /// default: this gateway's ledger.chain.head_file.
    #[arg(long = "head-file", value_name = "PATH")]
    pub head_files: Vec<std::path::PathBuf>,
    #[command(flatten)]
    pub format: FormatArgs<Report>,
}

pub async fn run_verify(a: VerifyArgs, global: &GlobalArgs) -> CmdResult {
    let start = verify::Start::from_args(a.since.as_deref(), a.from_seq, tokctl::db::now_us())
        .map_err(|e| Failure::of(&e, e.is_usage()))?;
    let json = a.format.get() == Report::Json;
    let loaded = global.load(Vec::new())?;
    let cfg = &loaded.config.ledger.chain;
    let db = crate::ledger::open_ledger_loaded(&loaded).await?;
    let key = ChainKey::new(&cfg.hmac_key);
    let heads = head::read_all(std::path::Path::new(&cfg.head_file), &a.head_files)
        .map_err(|e| Failure::of(&e, e.is_usage()))?;
    let bar = if std::io::stderr().is_terminal() && !json {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template("{spinner} verified {pos} entries ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Some(b)
    } else {
        None
    };
    let tick = |n: u64| {
        if let Some(b) = &bar
            && n.is_multiple_of(4096)
        {
            b.set_position(n);
        }
    };
    let report = verify::verify(&db, &key, a.instance.as_deref(), start, &heads, &tick)
        .await
        .map_err(|e| Failure::of(&e, e.is_usage()))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if json {
        output::json(&report)?;
    } else {
        output::print(&format!(
            "{}\n{}",
            crate::tables_ledger::verify(&report),
            report.findings()
        ))?;
    }
    Ok(if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILURE)
    })
}
