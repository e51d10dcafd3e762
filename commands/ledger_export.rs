//! `tokctl ledger export`: usage rows out of the ledger as a file (CSV or
//! JSON lines), whole or incremental, optionally compressed.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tokctl::ledger::export::{self, Compression, Destination, Export, ExportOptions};

use crate::CmdResult;
use crate::cli::GlobalArgs;
use crate::ledger::{FilterArgs, filter, open_ledger_loaded};

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Csv)]
    pub format: FormatArg,
    /// Write to FILE (temporary name, renamed when complete) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Compression (default: from the output's extension, .gz/.gzip or .zst/.zstd; else none).
    #[arg(long, value_enum)]
    pub compress: Option<CompressArg>,
    /// Incremental export: entries numbered above SEQ in one chain (--instance, or the
    /// only one), up to its committed watermark.
    #[arg(long, value_name = "SEQ", conflicts_with = "cursor")]
    pub after: Option<i64>,
    /// Incremental export: each chain from the position kept in FILE up to its committed
    /// watermark; FILE is rewritten only when the export completes. Not with --since/--until.
    #[arg(long, value_name = "FILE")]
    pub cursor: Option<PathBuf>,
    /// Prefix text cells starting with = + - @ with ' so spreadsheets show them as text.
    #[arg(long)]
    pub excel_safe: bool,
    /// Also write <FILE>.manifest.json: rows, time range, filters, SHA-256, columns.
    #[arg(long, requires = "output")]
    pub manifest: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    Csv,
    Jsonl,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CompressArg {
    None,
    Gzip,
    Zstd,
}

pub async fn run_export(a: ExportArgs, global: &GlobalArgs) -> CmdResult {
    let loaded = global.load(Vec::new())?;
    let filter = filter(&a.filter, &loaded).await?;
    let compress = a.compress.map(|c| match c {
        CompressArg::None => Compression::None,
        CompressArg::Gzip => Compression::Gzip,
        CompressArg::Zstd => Compression::Zstd,
    });
    let opts = ExportOptions {
        format: match a.format {
            FormatArg::Csv => export::Format::Csv,
            FormatArg::Jsonl => export::Format::Jsonl,
        },
        compression: Compression::resolve(compress, a.output.as_deref()),
        filter,
        excel_safe: a.excel_safe,
        manifest: a.manifest,
        after: a.after,
        cursor: a.cursor,
    };
    let dest = match &a.output {
        Some(p) => Destination::File(p.clone()),
        None => Destination::Stream(Box::new(std::io::stdout())),
    };
    let job = Export::prepare(opts, dest)?;
    let db = open_ledger_loaded(&loaded).await?;
    let bar = if a.output.is_some() && std::io::stderr().is_terminal() {
        // A bar with an ETA when the rows can be counted first (one COUNT
        // with the same filters); a spinner with the rate otherwise.
        let bar = match job.count(&db).await {
            Ok(total) => {
                let bar = indicatif::ProgressBar::new(total);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:30} {human_pos}/{human_len} rows ({per_sec}, ETA {eta})",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar
            }
            Err(_) => {
                let bar = indicatif::ProgressBar::new_spinner();
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} {elapsed_precise} {human_pos} rows ({per_sec})",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                bar
            }
        };
        bar.enable_steady_tick(Duration::from_millis(200));
        Some(bar)
    } else {
        None
    };
    let mut progress = |rows: u64| {
        if let Some(b) = &bar {
            b.set_position(rows);
        }
    };
    let result = job.run(&db, &mut progress).await;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    db.close().await;
    let report = result?;
    if let Some(path) = &report.path {
        eprintln!(
            "exported {} rows ({} bytes) to {}",
            report.rows,
            report.bytes,
            path.display()
        );
    }
    if let Some(m) = &report.manifest {
        eprintln!("manifest: {}", m.display());
    }
    Ok(ExitCode::SUCCESS)
}
