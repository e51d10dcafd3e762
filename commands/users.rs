//! `tokctl users create | list | update | disable | enable | delete`.

use std::process::ExitCode;

use tokctl::identity::update::{self, UserSettings};
use tokctl::identity::{lifecycle, store};

use crate::CmdResult;
use crate::access_flags::{ModelsArg, warn_unmatched};
use crate::budget_flags::{BudgetArgs, BudgetUpdateArgs};
use crate::cli::GlobalArgs;
use crate::listings::budget_or;
use crate::output::{FormatArgs, Listing};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Create a user (then give them a key with `tokctl keys create --user NAME`).
    #[command(after_help = "Examples:\n  tokctl users create alice\n  \
        tokctl users create alice && KEY=$(tokctl keys create --user alice)\n  \
        tokctl users create bob --team ml --models 'gpt-*'\n  \
        tokctl users create carol --budget 200 --budget-window monthly --budget-soft 80")]
    Create {
        /// Unique user name (no whitespace).
        name: String,
        /// The team the user joins (see `tokctl teams list`).
        #[arg(long, value_name = "TEAM")]
        team: Option<String>,
        #[command(flatten)]
        models: ModelsArg,
        #[command(flatten)]
        budget: BudgetArgs,
    },
    /// Move a user into a team (or out of theirs), replace their model allow-list or change
    /// their budget.
    #[command(
        after_help = "A user is in at most one team; changes reach gateways within \
        auth.cache_ttl_ms.\n\n\
        Examples:\n  tokctl users update alice --team ml\n  \
        tokctl users update alice --no-team        # or --team ''\n  \
        tokctl users update alice --models '*-mini'   # '' for any model\n  \
        tokctl users update alice --budget 100 --budget-window 30d   # --no-budget removes it"
    )]
    Update {
        /// The user (by name).
        name: String,
        /// The team to move the user into; '' removes them from their team.
        #[arg(long, value_name = "TEAM", conflicts_with = "no_team")]
        team: Option<String>,
        /// Remove the user from their team.
        #[arg(long)]
        no_team: bool,
        #[command(flatten)]
        models: ModelsArg,
        #[command(flatten)]
        budget: BudgetUpdateArgs,
    },
    /// List users with their count of usable keys.
    #[command(after_help = "Examples:\n  tokctl users list\n  \
        tokctl users list --format json | jq '.[] | select(.disabled)'\n  tokctl users list --format csv")]
    List {
        #[command(flatten)]
        format: FormatArgs<Listing>,
    },
    /// Disable a user: every key of theirs is refused within the auth cache TTL.
    #[command(after_help = "Examples:\n  tokctl users disable alice\n  tokctl users enable alice")]
    Disable {
        /// The user to disable (by name).
        name: String,
    },
    /// Enable a disabled user: their keys that are neither revoked nor expired work again.
    #[command(after_help = "Examples:\n  tokctl users enable alice")]
    Enable {
        /// The user to enable (by name).
        name: String,
    },
    /// Delete a user and their keys; refused while the ledger holds rows of theirs unless --keep-ledger.
    #[command(after_help = "Examples:\n  tokctl users delete bob\n  \
        tokctl users delete alice --keep-ledger   # her ledger rows stay, with her id and name\n  \
        tokctl users disable alice                # keep the user, refuse her keys")]
    Delete {
        /// The user to delete (by name).
        name: String,
        /// Delete even though the ledger has rows of this user; the rows are kept as they
        /// are (user id and name), and ids are never reused.
        #[arg(long)]
        keep_ledger: bool,
    },
}

pub async fn run(args: Args, global: &GlobalArgs) -> CmdResult {
    // Bad values are usage errors, found before touching any database.
    let settings = match &args.action {
        Action::Create {
            team,
            models,
            budget,
            ..
        } => UserSettings {
            budget: budget.on_create()?,
            ..UserSettings::parse(team.as_deref(), false, models.models.as_deref())?
        },
        Action::Update {
            team,
            no_team,
            models,
            budget,
            ..
        } => UserSettings {
            budget: budget.change()?,
            ..UserSettings::parse(team.as_deref(), *no_team, models.models.as_deref())?
        },
        _ => UserSettings::default(),
    };
    let read_only = matches!(args.action, Action::List { .. });
    let loaded = global.load(Vec::new())?;
    warn_unmatched(&loaded, settings.models.as_ref());
    let db = crate::identity_db::open_loaded(&loaded, read_only).await?;
    let result = match args.action {
        Action::Create { name, .. } => update::create_user_with(&db, &name, &settings)
            .await
            .map(|id| eprintln!("created user `{name}` (id {id})")),
        Action::Update { name, .. } => update::update_user(&db, &name, &settings).await.map(|u| {
            eprintln!(
                "updated user `{name}`: team {}, models {}, budget {}",
                u.team.as_deref().unwrap_or("none"),
                u.models.as_deref().unwrap_or("any"),
                budget_or(&u.budget, "none")
            )
        }),
        Action::List { format } => match store::list_users(&db).await {
            Ok(users) => {
                db.close().await;
                return crate::listings::users(&users, format.get());
            }
            Err(e) => Err(e),
        },
        Action::Disable { name } => store::disable_user(&db, &name)
            .await
            .map(|()| eprintln!("disabled user `{name}`")),
        Action::Enable { name } => lifecycle::enable_user(&db, &name)
            .await
            .map(|()| eprintln!("enabled user `{name}`")),
        Action::Delete { name, keep_ledger } => {
            let ledger = crate::identity_db::open_ledger(&loaded, &db).await?;
            let done =
                lifecycle::delete_user(&db, ledger.as_ref().unwrap_or(&db), &name, keep_ledger)
                    .await;
            if let Some(l) = ledger {
                l.close().await;
            }
            done.map(|d| {
                eprintln!(
                    "deleted user `{name}` (id {}) and {} key(s); {} ledger row(s) kept",
                    d.user_id, d.keys, d.ledger_rows
                )
            })
        }
    };
    db.close().await;
    result?;
    Ok(ExitCode::SUCCESS)
}
