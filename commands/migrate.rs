//! `tokctl migrate [status] [--dry-run]`.

use std::process::ExitCode;

use tokctl::config::paths;
use tokctl::db::migrate::{self, MigrationStatus, State};
use tokctl::db::{Databases, Db, Dsn};

use crate::cli::GlobalArgs;
use crate::output::{FormatArgs, Report};
use crate::{CmdResult, Failure, exit};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Applies pending migrations to the ledger and identity databases (both, when they differ). \
A SQLite file that already holds data is copied beside itself (VACUUM INTO) before it is changed.\n\n\
Examples:\n  tokctl migrate --dry-run\n  tokctl migrate\n  tokctl migrate status"
)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
    /// Show what would be applied, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List applied and pending migrations; fail (exit 1) when an applied one differs from the binary's.
    #[command(after_help = "Examples:\n  tokctl migrate status\n  \
        tokctl migrate status --format json | jq '.[].migrations[] | select(.state == \"pending\")'")]
    Status {
        #[command(flatten)]
        format: FormatArgs<Report>,
    },
}

pub async fn run(args: Args, global: &GlobalArgs) -> CmdResult {
    let loaded = global.load(Vec::new())?;
    if args.action.is_some() || args.dry_run {
        // Looking must not create: an empty new file would read as "all pending".
        paths::require_database(&loaded, "ledger.path", "ledger")?;
        paths::require_database(&loaded, "identity.path", "identity database")?;
    } else {
        paths::refuse_moved(&loaded)?;
    }
    let json =
        matches!(&args.action, Some(Action::Status { format }) if format.get() == Report::Json);
    let dbs = Databases::open(&loaded.config).await?;
    let mut failed = false;
    let mut doc = Vec::new();
    for (role, db, dsn) in dbs.distinct() {
        let statuses = if args.action.is_some() || args.dry_run {
            migrate::status(db).await?
        } else {
            apply(db, dsn).await?
        };
        if json {
            doc.push(serde_json::json!({
                "database": role,
                "dsn": dsn.describe(),
                "migrations": statuses.iter().map(|s| serde_json::json!({
                    "version": s.version,
                    "description": s.description,
                    "applied_at": s.applied_at,
                    "state": s.state.as_str(),
                })).collect::<Vec<_>>(),
            }));
        } else {
            crate::output::print(&format!(
                "{role} database: {}\n{}",
                dsn.describe(),
                crate::tables::migrations(&statuses)
            ))?;
        }
        if let Err(e) = migrate::check_drift(&statuses) {
            eprintln!("error: {role} database: {e}");
            failed = true;
        } else if args.dry_run {
            let pending = statuses
                .iter()
                .filter(|s| s.state == State::Pending)
                .count();
            eprintln!("dry run: {pending} migration(s) would be applied to the {role} database");
        }
    }
    for (_, db, _) in dbs.distinct() {
        db.close().await;
    }
    if json {
        crate::output::json(&doc)?;
    }
    if failed {
        return Err(Failure::new(
            exit::FAILURE,
            "migration state differs from this binary (see above)",
        ));
    }
    Ok(ExitCode::SUCCESS)
}

async fn apply(db: &Db, dsn: &Dsn) -> Result<Vec<MigrationStatus>, Failure> {
    let done = migrate::apply(db, dsn, &|| {
        eprintln!("waiting for the migration lock (another migrate is running)")
    })
    .await?;
    if let Some(b) = &done.backup {
        eprintln!(
            "backed up {} to {} before migrating",
            dsn.describe(),
            b.display()
        );
    }
    if done.versions.is_empty() {
        eprintln!("{}: nothing to apply", dsn.describe());
    } else {
        eprintln!("{}: applied {:?}", dsn.describe(), done.versions);
    }
    Ok(migrate::status(db).await?)
}
