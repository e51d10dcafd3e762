//! `tokctl keys create | list | revoke | rotate`. `create` and `rotate`
//! print the new key alone on stdout, so `KEY=$(tokctl keys create --user
//! alice)` works.

use std::process::ExitCode;

use tokctl::config::warnings::unenforced_key_limits;
use tokctl::db::now_us;
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
        tokctl keys create --user ci --name nightly --expires 30d --rps 2 --burst 5")]
    Create {
        /// The user the key acts for.
        #[arg(long, value_name = "NAME")]
        user: String,
        /// A label for the key, shown in listings.
        #[arg(long, default_value = "")]
        name: String,
        /// Expiry: a duration from now (30d, 12h) or an RFC 3339 time.
        #[arg(long, value_name = "WHEN")]
        expires: Option<String>,
        /// Requests per second for this key (default: rate_limit.apikey_rps).
        #[arg(long, allow_negative_numbers = true)]
        rps: Option<f64>,
        /// Burst size for this key (default: rate_limit.apikey_burst).
        #[arg(long, allow_negative_numbers = true)]
        burst: Option<i32>,
        /// Tokens per minute for this key (default: unlimited).
        #[arg(long, allow_negative_numbers = true)]
        tpm: Option<i64>,
    },
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
    let new_key = match &args.action {
        Action::Create {
            name,
            expires,
            rps,
            burst,
            tpm,
            ..
        } => {
            let (when, now) = (expires.as_deref(), now_us());
            NewKey::parse(name.clone(), when, *rps, *burst, *tpm, now)?
        }
        _ => NewKey::default(),
    };
    let read_only = matches!(args.action, Action::List { .. });
    let loaded = global.load(Vec::new())?;
    let db = crate::identity_db::open_loaded(&loaded, read_only).await?;
    let result = match args.action {
        Action::Create { user, .. } => {
            store::create_key(&db, &user, &new_key)
                .await
                .map(|created| {
                    eprintln!(
                        "created key {} ({}) for `{user}`; store it now, it is not shown again",
                        created.key_id, created.display_prefix
                    );
                    println!("{}", created.plaintext);
                    let limited = usize::from(new_key.has_limits());
                    if let Some(w) = unenforced_key_limits(&loaded, limited) {
                        eprintln!("warning: {w}");
                    }
                })
        }
        Action::List { user, format } => match store::list_keys(&db, user.as_deref()).await {
            Ok(keys) => {
                db.close().await;
                return crate::listings::keys(&keys, format.get());
            }
            Err(e) => Err(e),
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
