//! `tokctl teams create | list | show | update | delete`: teams group
//! users (a user is in at most one: `tokctl users update NAME --team T`);
//! ledger entries carry the team of their user at request time.

use std::process::ExitCode;

use tokctl::identity::budget_set::BudgetChange;
use tokctl::identity::teams::{self, TeamChange};

use crate::access_flags::{ModelsArg, warn_unmatched};
use crate::budget_flags::{BudgetArgs, BudgetUpdateArgs};
use crate::cli::GlobalArgs;
use crate::listings::budget_or;
use crate::output::{FormatArgs, Listing, Report};
use crate::{CmdResult, teams_render};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Create a team, optionally with a model allow-list and a budget for all its members.
    #[command(after_help = "Examples:\n  tokctl teams create ml\n  \
        tokctl teams create support --models 'claude-*,gpt-4o-mini'\n  \
        tokctl users update alice --team ml\n  \
        tokctl teams create research --budget 1000 --budget-window monthly --budget-soft 80")]
    Create {
        /// Unique team name (no whitespace).
        name: String,
        #[command(flatten)]
        models: ModelsArg,
        #[command(flatten)]
        budget: BudgetArgs,
    },
    /// List teams with their member counts, allow-lists and budgets.
    #[command(after_help = "Examples:\n  tokctl teams list\n  tokctl teams list --format csv")]
    List {
        #[command(flatten)]
        format: FormatArgs<Listing>,
    },
    /// Show a team: its allow-list, budget and members.
    #[command(after_help = "Examples:\n  tokctl teams show ml\n  tokctl teams show ml --json")]
    Show {
        /// The team (by name).
        name: String,
        #[command(flatten)]
        format: FormatArgs<Report>,
    },
    /// Rename a team, replace its allow-list or change its budget (seen by gateways within
    /// auth.cache_ttl_ms).
    #[command(
        after_help = "The team's budget caps the spend of all its members together.\n\n\
        Examples:\n  tokctl teams update ml --models 'gpt-*'\n  \
        tokctl teams update ml --models ''        # any model again\n  \
        tokctl teams update ml --rename research\n  \
        tokctl teams update ml --budget 500 --budget-window weekly   # --no-budget removes it"
    )]
    Update {
        /// The team (by name).
        name: String,
        /// A new name; members stay in the team.
        #[arg(long, value_name = "NEW")]
        rename: Option<String>,
        #[command(flatten)]
        models: ModelsArg,
        #[command(flatten)]
        budget: BudgetUpdateArgs,
    },
    /// Delete a team; refused while it has members unless --force.
    #[command(
        after_help = "Ledger rows keep the deleted team's id (ids are never reused); \
        `ledger summary --by team` shows it as `#ID (deleted)`.\n\n\
        Examples:\n  tokctl teams delete ml\n  \
        tokctl teams delete ml --force   # its members are left without a team"
    )]
    Delete {
        /// The team (by name).
        name: String,
        /// Delete even with members: they are left without a team (in the same transaction).
        #[arg(long)]
        force: bool,
    },
}

pub async fn run(args: Args, global: &GlobalArgs) -> CmdResult {
    // Bad values are usage errors, found before touching any database.
    let (models, budget) = match &args.action {
        Action::Create { models, budget, .. } => (models.parse()?, budget.on_create()?),
        Action::Update { models, budget, .. } => (models.parse()?, budget.change()?),
        _ => (None, BudgetChange::Keep),
    };
    let read_only = matches!(args.action, Action::List { .. } | Action::Show { .. });
    let loaded = global.load(Vec::new())?;
    warn_unmatched(&loaded, models.as_ref());
    let db = crate::identity_db::open_loaded(&loaded, read_only).await?;
    let result = match args.action {
        Action::Create { name, .. } => {
            let list = models.flatten();
            teams::create_team(&db, &name, list.as_ref(), &budget)
                .await
                .map(|id| eprintln!("created team `{name}` (id {id})"))
        }
        Action::List { format } => match teams::list_teams(&db).await {
            Ok(list) => {
                db.close().await;
                return teams_render::list(&list, format.get());
            }
            Err(e) => Err(e),
        },
        Action::Show { name, format } => match teams::show_team(&db, &name).await {
            Ok(team) => {
                db.close().await;
                return teams_render::show(&team, format.get());
            }
            Err(e) => Err(e),
        },
        Action::Update { name, rename, .. } => {
            let change = TeamChange {
                rename,
                models,
                budget,
            };
            teams::update_team(&db, &name, &change).await.map(|t| {
                let list = t.models.as_deref().unwrap_or("any model");
                let budget = budget_or(&t.budget, "no budget");
                eprintln!("updated team `{}` (id {}): {list}, {budget}", t.name, t.id)
            })
        }
        Action::Delete { name, force } => teams::delete_team(&db, &name, force).await.map(|d| {
            eprintln!("deleted team `{name}` (id {})", d.id);
            if !d.detached.is_empty() {
                eprintln!("left without a team: {}", d.detached.join(", "));
            }
        }),
    };
    db.close().await;
    result?;
    Ok(ExitCode::SUCCESS)
}
