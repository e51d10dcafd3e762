//! `tokctl ledger`: the subcommands, the filter flags export and summary
//! share, and opening the ledger read-only for them.

use tokctl::config::Loaded;
use tokctl::db::open::{Presence, Role, open};
use tokctl::db::{Db, now_us};
use tokctl::ledger::export::{self, Filter};

use crate::cli::GlobalArgs;
use crate::{CmdResult, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Stream ledger entries to CSV or JSON lines (stdout, or a file made atomically).
    #[command(
        after_help = "Columns and their order: docs/ledger.md. Incremental exports (--after, \
--cursor) go chain by chain by sequence number and stop at each chain's committed watermark, so \
a batch committed late is exported by the next run, never skipped. Rows written outside every \
chain are only in full exports.\n\n\
Examples:\n  tokctl ledger export --since 2026-11-01T00:00:00Z --until 2026-12-01T00:00:00Z -o nov.csv.gz --manifest\n  \
tokctl ledger export --format jsonl --since 24h --key tok_AbCd1234\n  \
tokctl ledger export --team ml --since 30d -o ml.csv\n  \
tokctl ledger export --cursor billing.cursor -o increment.csv"
    )]
    Export(crate::ledger_export::ExportArgs),
    /// Totals grouped by user, key, model, day or hour: requests, errors, tokens, cost, p50/p99 latency.
    #[command(
        after_help = "The table shows numbers for people (separators, cost in ledger.currency, latencies with \
units); --format json and csv keep the raw numbers (cost_nano, latencies in ms).\n\n\
Examples:\n  tokctl ledger summary --by user,model --since 7d\n  \
tokctl ledger summary --by day --format csv > daily.csv\n  tokctl ledger summary --errors --by model --json\n  \
tokctl ledger summary --by team,model --since 30d   # teams by name"
    )]
    Summary(crate::ledger_summary::SummaryArgs),
    /// Check the hash chains: reports the first entry where each breaks (edited, deleted, inserted); exit 1.
    #[command(
        after_help = "Gaps (entries known lost: dead-lettered, or lost in a crash with the spool off) \
are listed, not failures. Entries above the committed watermark are not checked. The head file \
(ledger.chain.head_file) catches deletion of the newest entries. Use the HMAC key the chain was \
written with (ledger.chain.hmac_key / TOKCTL_LEDGER_CHAIN_HMAC_KEY).\n\n\
Examples:\n  tokctl ledger verify\n  tokctl ledger verify --instance gw-1 --from-seq 100000 --json\n  \
tokctl ledger verify --head-file /backup/gw-1.head.json --head-file /backup/gw-2.head.json"
    )]
    Verify(crate::ledger_chain::VerifyArgs),
    /// The crash-safe spool: `status`, or `replay` its entries into the database without serving.
    #[command(after_help = "Examples:\n  tokctl ledger spool status\n  tokctl ledger spool replay")]
    Spool(crate::ledger_spool::SpoolArgs),
}

/// Which entries: shared by export and summary.
#[derive(Debug, clap::Args)]
pub struct FilterArgs {
    /// Entries at or after this time: RFC 3339 (2026-11-01T00:00:00Z), or a duration before now (24h, 7d).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Entries before this time: RFC 3339, or a duration before now.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Only this user's entries (by name).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Only this API key's entries: its id or display prefix (see `tokctl keys list`).
    #[arg(long, value_name = "ID|PREFIX")]
    pub key: Option<String>,
    /// Only entries of this team's users (the team at request time; see `tokctl teams list`).
    #[arg(long, value_name = "NAME")]
    pub team: Option<String>,
    /// Only entries for this model (as the client asked for it).
    #[arg(long)]
    pub model: Option<String>,
    /// Only entries with this HTTP status code.
    #[arg(long, value_name = "CODE")]
    pub status: Option<i32>,
    /// Only error rows: status >= 400, or a stream that began 200 and then
    /// failed (its error_kind is set).
    #[arg(long)]
    pub errors: bool,
    /// Only entries of this gateway instance's hash chain (see `tokctl ledger verify`).
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
}

impl From<export::ExportError> for Failure {
    fn from(e: export::ExportError) -> Self {
        Failure {
            broken_pipe: e.is_broken_pipe(),
            ..Failure::of(&e, e.is_usage())
        }
    }
}

/// A summary's (or a verify's) read failing, or its time flags naming no time.
impl From<tokctl::ledger::scan::ScanError> for Failure {
    fn from(e: tokctl::ledger::scan::ScanError) -> Self {
        export::ExportError::from(e).into()
    }
}

impl From<tokctl::ledger::scan::FilterError> for Failure {
    fn from(e: tokctl::ledger::scan::FilterError) -> Self {
        export::ExportError::from(e).into()
    }
}

pub async fn run(args: Args, global: &GlobalArgs) -> CmdResult {
    match args.action {
        Action::Export(a) => crate::ledger_export::run_export(a, global).await,
        Action::Summary(a) => crate::ledger_summary::run(a, global).await,
        Action::Verify(a) => crate::ledger_chain::run_verify(a, global).await,
        Action::Spool(a) => crate::ledger_spool::run_spool(a, global).await,
    }
}

/// The filter of `export` and `summary`; a key named by its display
/// prefix is looked up in the identity database.
pub async fn filter(f: &FilterArgs, loaded: &Loaded) -> Result<Filter, Failure> {
    let key = match f.key.as_deref().map(str::trim) {
        None => None,
        Some(k) => match k.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                let db = crate::identity_db::open_loaded(loaded, true).await?;
                let found = tokctl::identity::store::find_key(&db, k).await;
                db.close().await;
                Some(found?.id)
            }
        },
    };
    let base = Filter {
        user: f.user.clone(),
        key,
        team: crate::identity_db::team_id(loaded, f.team.as_deref()).await?,
        model: f.model.clone(),
        status: f.status,
        errors: f.errors,
        instance: f.instance.clone(),
        ..Filter::default()
    };
    Ok(base.with_times(f.since.as_deref(), f.until.as_deref(), now_us())?)
}

/// The ledger of a loaded configuration, which must exist.
pub async fn open_ledger_loaded(loaded: &Loaded) -> Result<Db, Failure> {
    Ok(open(loaded, Role::Ledger, Presence::MustExist).await?.0)
}
