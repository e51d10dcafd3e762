//! `tokctl migrate [status] [--dry-run]`.

use std::process::ExitCode;

use tokctl::config::paths;
use tokctl::db::migrate::{self, MigrationStatus, State};
use tokctl::db::{Databases, Db, Dsn};

use crate::cli::GlobalArgs;
use crate::{CmdResult, Failure, exit};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Applies pending migrations to the ledger and identity databases (both, when they differ). \
A SQLite file that already holds data is copied beside itself (VACUUM INTO) before it is changed."
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
    Status,
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
    let dbs = Databases::open(&loaded.config).await?;
    let mut failed = false;
    for (role, db, dsn) in dbs.distinct() {
        let statuses = if args.action.is_some() || args.dry_run {
            migrate::status(db).await?
        } else {
            apply(db, dsn).await?
        };
        println!("{role} database: {}", dsn.describe());
        println!("{}", status_table(&statuses));
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

fn status_table(statuses: &[MigrationStatus]) -> comfy_table::Table {
    let mut t = crate::render::table(&["version", "description", "applied at", "state"]);
    for s in statuses {
        t.add_row(vec![
            s.version.to_string(),
            s.description.clone(),
            s.applied_at.clone().unwrap_or_else(|| "-".into()),
            s.state.as_str().to_string(),
        ]);
    }
    t
}
