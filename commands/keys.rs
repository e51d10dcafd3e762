//! `tokctl keys create | list | update | revoke | rotate`. `create` and `rotate`
//! print the new key alone on stdout, so `KEY=$(tokctl keys create --user
//! alice)` works.

use std::process::ExitCode;

use tokctl::identity::{NewKey, lifecycle, store};

use crate::cli::GlobalArgs;
use crate::identity_db::time_or_dash;
use crate::output::{FormatArgs, Listing};
use crate::{CmdResult, args};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Create a key and print it (alone, on stdout). It is shown only this once.
    #[command(after_help = "Examples:\n  KEY=$(tokctl keys create --user alice)\n  \
        tokctl keys create --user ci --name nightly --expires 30d --rps 2 --burst 5\n  \
        tokctl keys create --user alice --models 'claude-*,gpt-4o'\n  \
        tokctl keys create --user ci --budget 0.50 --budget-window 1h --budget-soft 80")]
    Create(crate::keys_create::CreateArgs),
    /// Change a key's model allow-list or budget (seen by gateways within auth.cache_ttl_ms).
    #[command(
        after_help = "--models '' allows any model (within the user's and team's lists). Setting \
        --budget or --budget-window restarts a duration window from now.\n\n\
        Examples:\n  tokctl keys update tok_AbCd1234 --models 'gpt-*'\n  \
        tokctl keys update 12 --budget 100 --budget-window weekly\n  \
        tokctl keys update 12 --budget-soft 90\n  tokctl keys update 12 --no-budget"
    )]
    Update(crate::keys_update::UpdateArgs),
    /// List keys (never the keys themselves: only their display prefixes), with their state.
    #[command(
        after_help = "States: active, revoking (still accepted: a rotation's grace period), revoked, expired. \
        Times are UTC.\n\n\
        Examples:\n  tokctl keys list --user alice\n  tokctl keys list --format json | jq '.[] | select(.state == \"expired\")'"
    )]
    List {
        /// Only this user's keys.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        #[command(flatten)]
        format: FormatArgs<Listing>,
    },
    /// Revoke a key by id, display prefix or full key; refused within the auth cache TTL.
    #[command(after_help = "Examples:\n  tokctl keys revoke 12\n  tokctl keys revoke tok_AbCd1234")]
    Revoke {
        /// Key id, display prefix (e.g. tok_AbCd1234) or the full key.
        key: String,
    },
    /// Replace a key: print a new one (same user, name, limits and expiry); revoke the old
    /// one now or after --grace.
    #[command(after_help = "Examples:\n  NEW=$(tokctl keys rotate tok_AbCd1234)\n  \
        tokctl keys rotate 12 --grace 1h   # the old key keeps working for an hour")]
    Rotate {
        /// Key id, display prefix (e.g. tok_AbCd1234) or the full key.
        key: String,
        /// How long the old key keeps working (e.g. 1h, 30m; a bare number is seconds).
        #[arg(long, value_name = "DURATION", value_parser = args::seconds, default_value = "0s")]
        grace: std::time::Duration,
    },
}

pub async fn run(args: Args, global: &GlobalArgs) -> CmdResult {
    // Bad values are usage errors, found before touching any database.
    let (new_key, change) = match &args.action {
        Action::Create(a) => (a.new_key()?, None),
        Action::Update(a) => (NewKey::default(), Some(a.change()?)),
        _ => (NewKey::default(), None),
    };
    let read_only = matches!(args.action, Action::List { .. });
    let loaded = global.load(Vec::new())?;
    let list = match &change {
        Some(c) => c.models.as_ref(),
        None => Some(&new_key.models),
    };
    crate::access_flags::warn_unmatched(&loaded, list);
    let db = crate::identity_db::open_loaded(&loaded, read_only).await?;
    let result = match args.action {
        Action::Create(a) => crate::keys_create::run(&a.user, &new_key, &db, &loaded).await,
        Action::List { user, format } => match store::list_keys(&db, user.as_deref()).await {
            Ok(keys) => {
                db.close().await;
                return crate::listings::keys(&keys, format.get());
            }
            Err(e) => Err(e),
        },
        Action::Update(a) => match &change {
            Some(c) => crate::keys_update::run(&a.key, c, &db).await,
            None => Ok(()),
        },
        Action::Revoke { key } => store::revoke_key(&db, &key).await.map(|k| {
            eprintln!(
                "revoked key {} ({}) of `{}` at {}",
                k.id,
                k.display_prefix,
                k.user_name,
                time_or_dash(k.revoked_at_us)
            )
        }),
        Action::Rotate { key, grace } => {
            let grace_us = i64::try_from(grace.as_micros()).unwrap_or(i64::MAX);
            lifecycle::rotate_key(&db, &key, grace_us).await.map(|r| {
                eprintln!(
                    "created key {} ({}) for `{}`; store it now, it is not shown again; \
                     the old key {} ({}) is revoked at {}",
                    r.new.key_id,
                    r.new.display_prefix,
                    r.old.user_name,
                    r.old.id,
                    r.old.display_prefix,
                    time_or_dash(r.old.revoked_at_us)
                );
                println!("{}", r.new.plaintext);
            })
        }
    };
    db.close().await;
    result?;
    Ok(ExitCode::SUCCESS)
}
