//! `tokctl keys create`: its flags, and the new key printed alone on
//! stdout (so `KEY=$(tokctl keys create --user alice)` works).

use tokctl::config::Loaded;
use tokctl::config::warnings::unenforced_key_limits;
use tokctl::db::{Db, now_us};
use tokctl::identity::{IdentityError, NewKey, store};

use crate::Failure;
use crate::access_flags::ModelsArg;
use crate::budget_flags::BudgetArgs;

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The user the key acts for.
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// A label for the key, shown in listings.
    #[arg(long, default_value = "")]
    pub name: String,
    /// Expiry: a duration from now (30d, 12h) or an RFC 3339 time.
    #[arg(long, value_name = "WHEN")]
    pub expires: Option<String>,
    /// Requests per second for this key (default: rate_limit.apikey_rps).
    #[arg(long, allow_negative_numbers = true)]
    pub rps: Option<f64>,
    /// Burst size for this key (default: rate_limit.apikey_burst).
    #[arg(long, allow_negative_numbers = true)]
    pub burst: Option<i32>,
    /// Tokens per minute for this key (default: unlimited).
    #[arg(long, allow_negative_numbers = true)]
    pub tpm: Option<i64>,
    #[command(flatten)]
    pub models: ModelsArg,
    #[command(flatten)]
    pub budget: BudgetArgs,
}

impl CreateArgs {
    /// The key's settings, checked (a bad value is a usage error).
    pub fn new_key(&self) -> Result<NewKey, Failure> {
        let (when, now) = (self.expires.as_deref(), now_us());
        let key = NewKey::parse(self.name.clone(), when, self.rps, self.burst, self.tpm, now)?;
        Ok(NewKey {
            models: self.models.parse()?.flatten(),
            budget: self.budget.on_create()?.for_new(now),
            ..key
        })
    }
}

/// Creates the key for `user` and prints it.
pub async fn run(
    user: &str,
    new_key: &NewKey,
    db: &Db,
    loaded: &Loaded,
) -> Result<(), IdentityError> {
    let created = store::create_key(db, user, new_key).await?;
    eprintln!(
        "created key {} ({}) for `{user}`; store it now, it is not shown again",
        created.key_id, created.display_prefix
    );
    println!("{}", created.plaintext);
    let limited = usize::from(new_key.has_limits());
    if let Some(w) = unenforced_key_limits(loaded, limited) {
        eprintln!("warning: {w}");
    }
    Ok(())
}
