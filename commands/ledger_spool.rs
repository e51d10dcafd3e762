//! `tokctl ledger spool status|replay`: the crash-safe spool seen from
//! outside the server.

use std::process::ExitCode;

use tokctl::ledger::LedgerWriter;

use crate::cli::GlobalArgs;
use crate::output::{self, FormatArgs, Report};
use crate::render::{bytes, int};
use crate::{CmdResult, Failure, exit};

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
