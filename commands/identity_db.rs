//! Opening the identity database for `users`, `keys` and `teams` (and
//! for the ledger commands' team names): pending migrations
//! are applied first, quietly (only a backup is mentioned, on stderr).

use std::collections::HashMap;

use tokctl::config::Loaded;
use tokctl::db::open::{Presence, Role, open};
use tokctl::db::{Db, migrate};
use tokctl::identity::lifecycle::KeyState;

use crate::Failure;

/// Opens `identity.path` of a loaded configuration, migrated. A
/// read-only command (`users list`, `keys list`) refuses a SQLite file that
/// does not exist rather than create an empty one and list nothing.
pub async fn open_loaded(loaded: &Loaded, read_only: bool) -> Result<Db, Failure> {
    let presence = if read_only {
        Presence::MustExist
    } else {
        Presence::MayCreate
    };
    let (db, dsn) = open(loaded, Role::Identity, presence).await?;
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

/// The ledger database for `users delete` to count a user's rows in:
/// `None` when it is the identity database itself (one database for both).
/// A SQLite ledger file that does not exist is an error, not "no rows".
pub async fn open_ledger(loaded: &Loaded, _identity: &Db) -> Result<Option<Db>, Failure> {
    let c = &loaded.config;
    if c.shared_database() {
        return Ok(None);
    }
    Ok(Some(
        open(loaded, Role::Ledger, Presence::MustExist).await?.0,
    ))
}

/// How many usable keys carry their own limits, read without migrating or
/// creating anything (for the warning at `serve` start); 0 when the
/// identity database is not there yet or cannot be read.
pub async fn keys_with_limits(loaded: &Loaded) -> usize {
    if loaded.config.rate_limit.enabled {
        return 0;
    }
    let Ok((db, _)) = open(loaded, Role::Identity, Presence::MustExist).await else {
        return 0;
    };
    let keys = tokctl::identity::store::list_keys(&db, None).await;
    db.close().await;
    let now = tokctl::db::now_us();
    keys.map(|keys| {
        keys.iter()
            .filter(|k| {
                matches!(
                    KeyState::of(k, now),
                    KeyState::Active | KeyState::RevokedLater
                )
            })
            .filter(|k| k.rps.is_some() || k.burst.is_some() || k.tokens_per_minute.is_some())
            .count()
    })
    .unwrap_or(0)
}

/// The id of the team `--team NAME` names, read from the identity
/// database (an unknown name is an error naming it).
pub async fn team_id(loaded: &Loaded, name: Option<&str>) -> Result<Option<i64>, Failure> {
    let Some(name) = name else {
        return Ok(None);
    };
    let db = open_loaded(loaded, true).await?;
    let id = tokctl::identity::teams::team_id(&db, name).await;
    db.close().await;
    Ok(Some(id?))
}

/// Every team's name by id (for `ledger summary --by team`).
pub async fn team_names(loaded: &Loaded) -> Result<HashMap<i64, String>, Failure> {
    let db = open_loaded(loaded, true).await?;
    let names = tokctl::identity::teams::team_names(&db).await;
    db.close().await;
    Ok(names?)
}

/// `Some(us)` as RFC 3339, `None` as `-`.
pub fn time_or_dash(us: Option<i64>) -> String {
    us.map(tokctl::identity::keys::format_us)
        .unwrap_or_else(|| "-".into())
}
