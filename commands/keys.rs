//! `tokctl keys create | list | revoke`. `create` prints the new key alone
//! on stdout, so `KEY=$(tokctl keys create --user alice)` works.

use std::process::ExitCode;

use tokctl::config::warnings::unenforced_key_limits;
use tokctl::db::now_us;
use tokctl::identity::{NewKey, parse_expiry, store};

use crate::CmdResult;
use crate::cli::GlobalArgs;
use crate::identity_db::time_or_dash;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Create a key and print it (alone, on stdout). It is shown only this once.
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
    /// List keys (never the keys themselves: only their display prefixes).
    List {
        /// Only this user's keys.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
    },
    /// Revoke a key by id, display prefix or full key; refused within the auth cache TTL.
    Revoke {
        /// Key id, display prefix (e.g. tok_AbCd1234) or the full key.
        key: String,
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
            let k = NewKey {
                name: name.clone(),
                expires_at_us: expires
                    .as_deref()
                    .map(|t| parse_expiry(t, now_us()))
                    .transpose()?,
                rps: *rps,
                burst: *burst,
                tokens_per_minute: *tpm,
            };
            k.check()?;
            k
        }
        _ => NewKey::default(),
    };
    let read_only = matches!(args.action, Action::List { .. });
    let loaded = global.load(Vec::new())?;
    let db = crate::identity_db::open_loaded(&loaded, read_only).await?;
    let limited = usize::from(
        new_key.rps.is_some() || new_key.burst.is_some() || new_key.tokens_per_minute.is_some(),
    );
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
                    if let Some(w) = unenforced_key_limits(&loaded, limited) {
                        eprintln!("warning: {w}");
                    }
                })
        }
        Action::List { user } => store::list_keys(&db, user.as_deref()).await.map(|keys| {
            let mut t = crate::render::table(&[
                "id", "user", "name", "prefix", "created", "expires", "revoked", "rps", "burst",
                "tpm",
            ]);
            let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
            for k in keys {
                t.add_row(vec![
                    k.id.to_string(),
                    k.user_name,
                    k.name,
                    k.display_prefix,
                    time_or_dash(Some(k.created_at_us)),
                    time_or_dash(k.expires_at_us),
                    time_or_dash(k.revoked_at_us),
                    opt(k.rps.map(|v| v.to_string())),
                    opt(k.burst.map(|v| v.to_string())),
                    opt(k.tokens_per_minute.map(|v| v.to_string())),
                ]);
            }
            println!("{t}");
        }),
        Action::Revoke { key } => store::revoke_key(&db, &key).await.map(|k| {
            eprintln!(
                "revoked key {} ({}) of `{}` at {}",
                k.id,
                k.display_prefix,
                k.user_name,
                time_or_dash(k.revoked_at_us)
            )
        }),
    };
    db.close().await;
    result?;
    Ok(ExitCode::SUCCESS)
}
