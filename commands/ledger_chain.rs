//! `tokctl ledger verify` and `tokctl ledger spool status|replay`: checking
//! the hash chains, and the crash-safe spool seen from outside the server.

use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use tokctl::ledger::LedgerWriter;
use tokctl::ledger::chain::verify::{self, Report as VerifyReport};
use tokctl::ledger::chain::{ChainKey, head};

use crate::cli::GlobalArgs;
use crate::output::{self, FormatArgs, Report};
use crate::render::{bytes, int};
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

#[derive(Debug, clap::Args)]
pub struct SpoolArgs {
    #[command(subcommand)]
    pub action: SpoolAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum SpoolAction {
    /// Segments, backlog above the committed watermark, torn records.
    #[command(after_help = "Examples:\n  tokctl ledger spool status\n  \
        tokctl ledger spool status --format json | jq .backlog")]
    Status {
        #[command(flatten)]
        format: FormatArgs<Report>,
    },
    /// Write every spooled entry above the watermark into the database, without serving.
    #[command(after_help = "Examples:\n  tokctl ledger spool replay && tokctl ledger spool status")]
    Replay,
}

pub async fn run_verify(a: VerifyArgs, global: &GlobalArgs) -> CmdResult {
    let start = match &a.since {
        Some(since) if since.trim().parse::<i64>().is_ok() => {
            return Err(Failure::new(
                exit::USAGE,
                format!(
                    "--since is a time everywhere; for a sequence number use --from-seq {since}"
                ),
            ));
        }
        Some(since) => {
            let now = tokctl::db::now_us();
            verify::Start::Since(tokctl::ledger::scan::parse_time("--since", since, now)?)
        }
        None => verify::Start::AfterSeq(a.from_seq),
    };
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
        .map_err(|e| match e {
            verify::VerifyError::Store(_) => Failure::new(exit::FAILURE, crate::chain(&e)),
            _ => Failure::new(exit::USAGE, e.to_string()),
        })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if json {
        output::json(&report)?;
    } else {
        output::print(&report_text(&report))?;
    }
    Ok(if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILURE)
    })
}

use std::io::IsTerminal;

fn report_text(r: &VerifyReport) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(o, "{}", crate::tables::verify(r));
    for c in &r.chains {
        for g in &c.gaps {
            let _ = writeln!(
                o,
                "gap: chain {} entry {} ({})",
                c.instance_id, g.seq, g.reason
            );
        }
    }
    if r.unchained_rows > 0 {
        let _ = writeln!(
            o,
            "inserted: {} rows outside every chain that the baseline does not account for (first: {})",
            r.unchained_rows,
            r.first_unchained
                .as_deref()
                .unwrap_or("not one row: more of them than the baseline")
        );
    }
    match &r.baseline {
        Some(b) => {
            let _ = writeln!(
                o,
                "before the chains: {} rows outside every chain (baseline {} rows up to id {})",
                r.pre_chain_rows,
                b.rows,
                b.max_id.map_or("-".to_string(), |m| m.to_string())
            );
        }
        None if !r.chains.is_empty() => {
            let _ = writeln!(
                o,
                "no baseline holds: rows outside every chain were counted by time since the first chain began"
            );
        }
        None => {}
    }
    let _ = writeln!(
        o,
        "{}",
        if r.is_intact() {
            "chains intact"
        } else {
            "TAMPERING DETECTED"
        }
    );
    o
}

/// The checkpoint of `spool status`: the committed watermark read from the
/// database and the backlog above it, or why they are unknown (`line`).
#[derive(serde::Serialize)]
struct Checkpoint {
    instance_id: Option<String>,
    watermark: Option<i64>,
    backlog: Option<i64>,
    line: String,
}

async fn checkpoint(loaded: &tokctl::config::Loaded, last: i64) -> Checkpoint {
    use tokctl::ledger::chain::start;
    let unknown = |id: Option<String>, line: String| Checkpoint {
        instance_id: id,
        watermark: None,
        backlog: None,
        line,
    };
    let id = match start::existing_instance_id(&loaded.config.ledger.chain) {
        Ok(Some(id)) => id,
        Ok(None) => {
            return unknown(
                None,
                "checkpoint: this gateway has no instance id yet".into(),
            );
        }
        Err(e) => return unknown(None, format!("checkpoint: unknown ({e})")),
    };
    let db = match crate::ledger::open_ledger_loaded(loaded).await {
        Ok(db) => db,
        Err(e) => {
            let line = format!("checkpoint of `{id}`: database unreachable ({})", e.message);
            return unknown(Some(id), line);
        }
    };
    let wm = start::stored_watermark(&db, &id).await;
    db.close().await;
    let (watermark, backlog, line) = match wm {
        Ok(Some(wm)) => {
            let backlog = (last - wm).max(0);
            let line = format!(
                "checkpoint of `{id}`: committed watermark {}; backlog {} entries to replay",
                int(wm),
                int(backlog)
            );
            (Some(wm), Some(backlog), line)
        }
        Ok(None) => {
            let line = format!(
                "checkpoint of `{id}`: no chain in the database yet; backlog {} entries",
                int(last)
            );
            (None, Some(last), line)
        }
        Err(e) => (None, None, format!("checkpoint of `{id}`: unknown ({e})")),
    };
    Checkpoint {
        instance_id: Some(id),
        watermark,
        backlog,
        line,
    }
}

pub async fn run_spool(a: SpoolArgs, global: &GlobalArgs) -> CmdResult {
    let loaded = global.load(Vec::new())?;
    let cfg = loaded.config.ledger.clone();
    let dir = std::path::Path::new(&cfg.spool.dir);
    match a.action {
        SpoolAction::Status { format } => {
            let scan = tokctl::ledger::spool::scan_dir(dir)
                .map_err(|e| Failure::new(exit::FAILURE, e.to_string()))?;
            let last = scan.last().map_or(0, |(s, _)| s);
            let unreadable: u64 = scan.segments.iter().map(|s| s.unreadable_bytes).sum();
            let cp = checkpoint(&loaded, last).await;
            if format.get() == Report::Json {
                let segments: Vec<_> = scan
                    .segments
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "path": s.path.display().to_string(),
                            "first_seq": s.first_seq,
                            "last_seq": s.last.map(|(l, _)| l),
                            "records": s.records,
                            "bytes": s.bytes,
                            "unreadable_bytes": s.unreadable_bytes,
                        })
                    })
                    .collect();
                output::json(&serde_json::json!({
                    "dir": dir.display().to_string(),
                    "segments": segments,
                    "bytes": scan.bytes(),
                    "last_seq": last,
                    "unreadable_bytes": unreadable,
                    "instance_id": cp.instance_id,
                    "watermark": cp.watermark,
                    "backlog": cp.backlog,
                }))?;
            } else {
                output::print(&format!(
                    "spool {}\n{}\nspool: {} segments, {}, last entry {}, {} unreadable \
                     (a torn or corrupt tail, skipped by replay)\n{}",
                    dir.display(),
                    crate::tables::spool(&scan),
                    scan.segments.len(),
                    bytes(scan.bytes()),
                    int(last),
                    bytes(unreadable),
                    cp.line
                ))?;
            }
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
