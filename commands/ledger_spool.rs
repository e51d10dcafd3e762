//! `tokctl ledger spool status|replay`: the crash-safe spool seen from
//! outside the server.

use std::process::ExitCode;

use tokctl::db::open::{Presence, Role, open};
use tokctl::ledger::LedgerWriter;
use tokctl::ledger::Replayed;
use tokctl::ledger::spool::checkpoint::Checkpoint;

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

/// The checkpoint's line under the table.
fn checkpoint_line(cp: &Checkpoint) -> String {
    match cp {
        Checkpoint::NoInstance => "checkpoint: this gateway has no instance id yet".into(),
        Checkpoint::UnknownInstance(why) => format!("checkpoint: unknown ({why})"),
        Checkpoint::Unreachable { instance_id, why } => {
            format!("checkpoint of `{instance_id}`: database unreachable ({why})")
        }
        Checkpoint::NoChain {
            instance_id,
            backlog,
        } => format!(
            "checkpoint of `{instance_id}`: no chain in the database yet; backlog {} entries",
            int(*backlog)
        ),
        Checkpoint::Committed {
            instance_id,
            watermark,
            backlog,
        } => format!(
            "checkpoint of `{instance_id}`: committed watermark {}; backlog {} entries to replay",
            int(*watermark),
            int(*backlog)
        ),
        Checkpoint::Unknown { instance_id, why } => {
            format!("checkpoint of `{instance_id}`: unknown ({why})")
        }
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
            let unreadable = scan.unreadable_bytes();
            let cp = Checkpoint::read(&loaded, last).await;
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
                    "instance_id": cp.instance_id(),
                    "watermark": cp.watermark(),
                    "backlog": cp.backlog(),
                }))?;
            } else {
                output::print(&format!(
                    "spool {}\n{}\nspool: {} segments, {}, last entry {}, {} unreadable \
                     (a torn or corrupt tail, skipped by replay)\n{}",
                    dir.display(),
                    crate::tables_ledger::spool(&scan),
                    scan.segments.len(),
                    bytes(scan.bytes()),
                    int(last),
                    bytes(unreadable),
                    checkpoint_line(&cp)
                ))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        SpoolAction::Replay => {
            let (db, _) = open(&loaded, Role::Ledger, Presence::MustExist).await?;
            let Replayed { caught_up, stats } =
                LedgerWriter::replay(db, &cfg, std::time::Duration::from_secs(3600))
                    .await
                    .map_err(|e| Failure::new(exit::FAILURE, crate::chain(&e)))?;
            eprintln!(
                "replayed: {} entries written, watermark {} of {}",
                stats.written, stats.watermark, stats.last_seq
            );
            Ok(if caught_up {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(exit::FAILURE)
            })
        }
    }
}
