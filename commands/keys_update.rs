//! `tokctl keys update KEY [--models GLOBS] [--budget …|--no-budget]`:
//! changes a key's allow-list and/or budget.

use tokctl::db::Db;
use tokctl::identity::IdentityError;
use tokctl::identity::access::AllowList;
use tokctl::identity::budget_set::BudgetChange;
use tokctl::identity::update::update_key;

use crate::Failure;
use crate::access_flags::ModelsArg;
use crate::budget_flags::BudgetUpdateArgs;
use crate::listings::budget_or;

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// Key id, display prefix (e.g. tok_AbCd1234) or the full key.
    pub key: String,
    #[command(flatten)]
    pub models: ModelsArg,
    #[command(flatten)]
    pub budget: BudgetUpdateArgs,
}

/// What `keys update` changes, checked before any database is touched.
pub struct KeyChange {
    /// `None`: as it is; `Some(None)`: any model.
    pub models: Option<Option<AllowList>>,
    pub budget: BudgetChange,
}

impl UpdateArgs {
    pub fn change(&self) -> Result<KeyChange, Failure> {
        Ok(KeyChange {
            models: self.models.parse()?,
            budget: self.budget.change()?,
        })
    }
}

/// Applies the update on an open identity database; what changed goes to
/// stderr.
pub async fn run(key: &str, change: &KeyChange, db: &Db) -> Result<(), IdentityError> {
    let models = change.models.as_ref().map(Option::as_ref);
    let k = update_key(db, key, models, &change.budget).await?;
    eprintln!(
        "updated key {} ({}) of `{}`: models {}, budget {}",
        k.id,
        k.display_prefix,
        k.user_name,
        k.models.as_deref().unwrap_or("any"),
        budget_or(&k.budget, "none")
    );
    Ok(())
}
