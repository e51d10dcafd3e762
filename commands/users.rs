//! `tokctl users create NAME | list | disable NAME`.

use std::process::ExitCode;

use tokctl::identity::{keys::format_us, store};

use crate::CmdResult;
use crate::cli::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Create a user (then give them a key with `tokctl keys create --user NAME`).
    Create {
        /// Unique user name (no whitespace).
        name: String,
    },
    /// List users with their count of usable keys.
    List,
    /// Disable a user: every key of theirs is refused within the auth cache TTL.
    Disable {
        /// The user to disable.
        name: String,
    },
}

pub async fn run(args: Args, global: &GlobalArgs) -> CmdResult {
    let read_only = matches!(args.action, Action::List);
    let db = crate::identity_db::open(global, read_only).await?;
    let result = match args.action {
        Action::Create { name } => store::create_user(&db, &name)
            .await
            .map(|id| eprintln!("created user `{name}` (id {id})")),
        Action::List => store::list_users(&db).await.map(|users| {
            let mut t =
                crate::render::table(&["id", "name", "status", "usable keys", "created at"]);
            for u in users {
                t.add_row(vec![
                    u.id.to_string(),
                    u.name,
                    if u.disabled { "disabled" } else { "active" }.to_string(),
                    u.active_keys.to_string(),
                    format_us(u.created_at_us),
                ]);
            }
            println!("{t}");
        }),
        Action::Disable { name } => store::disable_user(&db, &name)
            .await
            .map(|()| eprintln!("disabled user `{name}`")),
    };
    db.close().await;
    result?;
    Ok(ExitCode::SUCCESS)
}
