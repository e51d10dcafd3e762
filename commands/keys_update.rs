//! `tokctl keys update KEY --models GLOBS`: replaces a key's allow-list.

use tokctl::config::Loaded;
use tokctl::db::Db;
use tokctl::identity::IdentityError;
use tokctl::identity::update::update_key_models;

use crate::access_flags::{ModelsArg, warn_unmatched};

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// Key id, display prefix (e.g. tok_AbCd1234) or the full key.
    pub key: String,
    #[command(flatten)]
    pub models: ModelsArg,
}

/// Applies the update on an open identity database; what changed goes to
/// stderr.
pub async fn run(a: UpdateArgs, db: &Db, loaded: &Loaded) -> Result<(), IdentityError> {
    let Some(models) = tokctl::identity::access::parse_flag(a.models.models.as_deref())? else {
        return Err(IdentityError::NothingToChange {
            what: "pass --models GLOBS ('' for any model)",
        });
    };
    warn_unmatched(loaded, Some(&models));
    let k = update_key_models(db, &a.key, models.as_ref()).await?;
    eprintln!(
        "updated key {} ({}) of `{}`: models {}",
        k.id,
        k.display_prefix,
        k.user_name,
        k.models.as_deref().unwrap_or("any")
    );
    Ok(())
}
