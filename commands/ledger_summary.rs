//! `tokctl ledger summary`: totals per group, as a table (numbers for
//! people: separators, money with its currency, latencies with units), JSON
//! or CSV (raw numbers, `cost_nano` included).

use std::process::ExitCode;

use tokctl::ledger::summary::{self, GroupBy};

use crate::cli::GlobalArgs;
use crate::ledger::FilterArgs;
use crate::output::{self, FormatArgs, Listing};
use crate::{CmdResult, Failure, exit};

#[derive(Debug, clap::Args)]
pub struct SummaryArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Group by these (comma-separated or repeated); none: grand totals.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub by: Vec<ByArg>,
    #[command(flatten)]
    pub format: FormatArgs<Listing>,
    /// The same as --format csv.
    #[arg(long, conflicts_with_all = ["format", "json"])]
    pub csv: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ByArg {
    User,
    Key,
    Model,
    Day,
    Hour,
    /// The provider's API (`chat`, `messages`, `responses`, `embeddings`).
    #[value(name = "upstream_api")]
    UpstreamApi,
    /// The user's team at request time, by name (`#ID (deleted)` for a deleted team).
    Team,
    /// `none`, `hit`, `miss`, `bypass`.
    Cache,
    Provider,
}

pub async fn run(a: SummaryArgs, global: &GlobalArgs) -> CmdResult {
    let loaded = global.load(Vec::new())?;
    let filter = crate::ledger::filter(&a.filter, &loaded).await?;
    let by: Vec<GroupBy> = a.by.iter().map(|b| b.group()).collect();
    let db = crate::ledger::open_ledger_loaded(&loaded).await?;
    let result = summary::summarize(&db, &filter, &by).await;
    db.close().await;
    let mut s = result?;
    if by.contains(&GroupBy::Team) {
        s.name_teams(&crate::identity_db::team_names(&loaded).await?);
    }
    let format = if a.csv { Listing::Csv } else { a.format.get() };
    match format {
        Listing::Json => output::json(&s.to_json())?,
        Listing::Csv => s
            .write_csv(std::io::stdout().lock())
            .map_err(|e| Failure::stdout(&e, exit::FAILURE))?,
        Listing::Table => {
            let currency = &loaded.config.ledger.currency;
            output::print(&crate::tables_ledger::summary(&s, currency).to_string())?
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl ByArg {
    fn group(self) -> GroupBy {
        match self {
            ByArg::User => GroupBy::User,
            ByArg::Key => GroupBy::Key,
            ByArg::Model => GroupBy::Model,
            ByArg::Day => GroupBy::Day,
            ByArg::Hour => GroupBy::Hour,
            ByArg::UpstreamApi => GroupBy::UpstreamApi,
            ByArg::Team => GroupBy::Team,
            ByArg::Cache => GroupBy::Cache,
            ByArg::Provider => GroupBy::Provider,
        }
    }
}
