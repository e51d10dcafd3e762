//! `tokctl keys update KEY --models GLOBS`: replaces a key's allow-list.

use tokctl::db::Db;
use tokctl::identity::IdentityError;
use tokctl::identity::access::AllowList;
use tokctl::identity::update::update_key_models;

use crate::Failure;
use crate::access_flags::ModelsArg;

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// Key id, display prefix (e.g. tok_AbCd1234) or the full key.
    pub key: String,
    #[command(flatten)]
    pub models: ModelsArg,
}

impl UpdateArgs {
    /// The new list (`None`: any model), checked; no `--models` is a usage
    /// error, there being nothing else to change yet.
    pub fn models(&self) -> Result<Option<AllowList>, Failure> {
        self.models.parse()?.ok_or_else(|| {
            IdentityError::NothingToChange {
                what: "pass --models GLOBS ('' for any model)",
            }
            .into()
        })
    }
}

/// Applies the update on an open identity database; what changed goes to
/// stderr.
pub async fn run(key: &str, models: Option<AllowList>, db: &Db) -> Result<(), IdentityError> {
    let k = update_key_models(db, key, models.as_ref()).await?;
    eprintln!(
        "updated key {} ({}) of `{}`: models {}",
        k.id,
        k.display_prefix,
        k.user_name,
        k.models.as_deref().unwrap_or("any")
    );
    Ok(())
}
