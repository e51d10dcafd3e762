//! Opening the identity database for `users` and `keys`: pending migrations
//! are applied first, quietly (only a backup is mentioned, on stderr).

use tokctl::config::{Loaded, paths};
use tokctl::db::{Db, Dsn, PoolSettings, migrate};

use crate::cli::GlobalArgs;
use crate::{Failure, exit};

/// Loads the configuration and opens `identity.path`, migrated. A
/// read-only command (`users list`, `keys list`) refuses a SQLite file that
/// does not exist rather than create an empty one and list nothing.
pub async fn open(global: &GlobalArgs, read_only: bool) -> Result<Db, Failure> {
    let loaded = global.load(Vec::new())?;
    open_loaded(&loaded, read_only).await
}

/// [`open`] with a configuration already loaded.
pub async fn open_loaded(loaded: &Loaded, read_only: bool) -> Result<Db, Failure> {
    if read_only {
        paths::require_database(loaded, "identity.path", "identity database")?;
    }
    let c = &loaded.config;
    let dsn = Dsn::parse(&c.identity.path).map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    let db = Db::connect(&dsn, &PoolSettings::identity(c), "identity").await?;
    let done = migrate::apply(&db, &dsn, &|| {
        eprintln!("waiting for the migration lock (another migrate is running)")
    })
    .await?;
    if let Some(b) = &done.backup {
        eprintln!(
            "backed up {} to {} before migrating",
            dsn.describe(),
            b.display()
        );
    }
    Ok(db)
}

/// `Some(us)` as RFC 3339, `None` as `-`.
pub fn time_or_dash(us: Option<i64>) -> String {
    us.map(tokctl::identity::keys::format_us)
        .unwrap_or_else(|| "-".into())
}
