//! `tokctl ledger verify` and `tokctl ledger spool status|replay`: checking
//! the hash chains, and the crash-safe spool seen from outside the server.

use std::process::ExitCode;

use comfy_table::Table;
use indicatif::{ProgressBar, ProgressStyle};
use tokctl::ledger::LedgerWriter;
use tokctl::ledger::chain::verify::{self, Report};
use tokctl::ledger::chain::{ChainKey, head};

use crate::cli::GlobalArgs;
use crate::{CmdResult, Failure, exit};

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Only this gateway instance's chain (default: every chain in the ledger).
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
    /// Start after this sequence number (links into it are not checked).
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    pub since: i64,
    /// A chain head file to check its chain against (repeatable: other instances' head files);
    /// default: this gateway's ledger.chain.head_file.
    #[arg(long = "head-file", value_name = "PATH")]
    pub head_files: Vec<std::path::PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct SpoolArgs {
    #[command(subcommand)]
    pub action: SpoolAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum SpoolAction {
    /// Segments, backlog above the committed watermark, torn records.
    Status,
    /// Write every spooled entry above the watermark into the database, without serving.
    Replay,
}

pub async fn run_verify(a: VerifyArgs, global: &GlobalArgs) -> CmdResult {
    let loaded = global.load(Vec::new())?;
    let cfg = &loaded.config.ledger.chain;
    let db = crate::ledger::open_ledger(global).await?;
    let key = ChainKey::new(&cfg.hmac_key);
    let heads =
        head::read_all(std::path::Path::new(&cfg.head_file), &a.head_files).map_err(|e| {
            let code = if e.is_usage() {
                exit::USAGE
            } else {
                exit::FAILURE
            };
            Failure::new(code, e.to_string())
        })?;
    let bar = if std::io::stderr().is_terminal() && !a.json {
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
    let report = verify::verify(&db, &key, a.instance.as_deref(), a.since, &heads, &tick)
        .await
        .map_err(|e| match e {
            verify::VerifyError::Store(_) => Failure::new(exit::FAILURE, crate::chain(&e)),
            _ => Failure::new(exit::USAGE, e.to_string()),
        })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if a.json {
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        println!("{text}");
    } else {
        print_report(&report);
    }
    Ok(if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILURE)
    })
}

use std::io::IsTerminal;

fn print_report(r: &Report) {
    let mut t = Table::new();
    t.set_header([
        "instance",
        "keyed",
        "watermark",
        "checked",
        "gaps",
        "breaks",
        "first break",
    ]);
    for c in &r.chains {
        let first = c.first_break.as_ref().map_or("-".to_string(), |b| {
            format!("{} at {}: {}", b.kind, b.seq, b.detail)
        });
        t.add_row([
            c.instance_id.clone(),
            c.keyed.to_string(),
            c.watermark.to_string(),
            c.entries_checked.to_string(),
            c.gaps.len().to_string(),
            c.breaks.to_string(),
            first,
        ]);
    }
    println!("{t}");
    for c in &r.chains {
        for g in &c.gaps {
            println!(
                "gap: chain {} entry {} ({})",
                c.instance_id, g.seq, g.reason
            );
        }
    }
    if r.unchained_rows > 0 {
        println!(
            "inserted: {} rows outside every chain that the baseline does not account for (first: {})",
            r.unchained_rows,
            r.first_unchained
                .as_deref()
                .unwrap_or("not one row: more of them than the baseline")
        );
    }
    match &r.baseline {
        Some(b) => println!(
            "before the chains: {} rows outside every chain (baseline {} rows up to id {})",
            r.pre_chain_rows,
            b.rows,
            b.max_id.map_or("-".to_string(), |m| m.to_string())
        ),
        None if !r.chains.is_empty() => println!(
            "no baseline holds: rows outside every chain were counted by time since the first chain began"
        ),
        None => {}
    }
    println!(
        "{}",
        if r.is_intact() {
            "chains intact"
        } else {
            "TAMPERING DETECTED"
        }
    );
}

/// The checkpoint line of `spool status`: the committed watermark read from
/// the database and the backlog above it, or why they are unknown.
async fn checkpoint(cfg: &tokctl::config::LedgerConfig, global: &GlobalArgs, last: i64) -> String {
    use tokctl::ledger::chain::start;
    let id = match start::existing_instance_id(&cfg.chain) {
        Ok(Some(id)) => id,
        Ok(None) => return "checkpoint: this gateway has no instance id yet".into(),
        Err(e) => return format!("checkpoint: unknown ({e})"),
    };
    let db = match crate::ledger::open_ledger(global).await {
        Ok(db) => db,
        Err(e) => return format!("checkpoint of `{id}`: database unreachable ({})", e.message),
    };
    let wm = start::stored_watermark(&db, &id).await;
    db.close().await;
    match wm {
        Ok(Some(wm)) => format!(
            "checkpoint of `{id}`: committed watermark {wm}; backlog {} entries to replay",
            (last - wm).max(0)
        ),
        Ok(None) => {
            format!("checkpoint of `{id}`: no chain in the database yet; backlog {last} entries")
        }
        Err(e) => format!("checkpoint of `{id}`: unknown ({e})"),
    }
}

pub async fn run_spool(a: SpoolArgs, global: &GlobalArgs) -> CmdResult {
    let loaded = global.load(Vec::new())?;
    let cfg = loaded.config.ledger.clone();
    let dir = std::path::Path::new(&cfg.spool.dir);
    match a.action {
        SpoolAction::Status => {
            let scan = tokctl::ledger::spool::scan_dir(dir)
                .map_err(|e| Failure::new(exit::FAILURE, e.to_string()))?;
            let mut t = Table::new();
            t.set_header([
                "segment",
                "first seq",
                "last seq",
                "records",
                "bytes",
                "unreadable bytes",
            ]);
            for s in &scan.segments {
                t.add_row([
                    s.path.display().to_string(),
                    s.first_seq.to_string(),
                    s.last.map_or("-".into(), |(l, _)| l.to_string()),
                    s.records.to_string(),
                    s.bytes.to_string(),
                    s.unreadable_bytes.to_string(),
                ]);
            }
            println!("{t}");
            let last = scan.last().map_or(0, |(s, _)| s);
            let unreadable: u64 = scan.segments.iter().map(|s| s.unreadable_bytes).sum();
            println!(
                "spool: {} segments, {} bytes, last entry {last}, {unreadable} unreadable bytes \
                 (a torn or corrupt tail, skipped by replay)",
                scan.segments.len(),
                scan.bytes()
            );
            println!("{}", checkpoint(&cfg, global, last).await);
            Ok(ExitCode::SUCCESS)
        }
        SpoolAction::Replay => {
            let db = crate::ledger::open_ledger(global).await?;
            let mut cfg = cfg;
            cfg.async_writer.enabled = true;
            cfg.spool.enabled = true;
            let writer = LedgerWriter::start(db, &cfg)
                .await
                .map_err(|e| Failure::new(exit::FAILURE, crate::chain(&e)))?;
            let done = writer
                .wait_caught_up(std::time::Duration::from_secs(3600))
                .await;
            let stats = writer.shutdown().await;
            eprintln!(
                "replayed: {} entries written, watermark {} of {}",
                stats.written, stats.watermark, stats.last_seq
            );
            Ok(if done {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(exit::FAILURE)
            })
        }
    }
}
