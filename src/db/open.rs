//! Opening one database of a loaded configuration, the way every command
//! but `serve` and `migrate` (which open both, [`Databases`](super::Databases))
//! does: its role's pool settings, and a SQLite file that must already
//! exist refused with the key and where its value came from rather than
//! created empty. Migrating is the caller's choice.

use super::{Db, DbError, Dsn, DsnError, PoolSettings};
use crate::config::{ConfigError, Loaded, paths};

/// Which database of the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `ledger.path`.
    Ledger,
    /// `identity.path`.
    Identity,
}

/// Whether a SQLite file may be created by opening it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// A read-only command: a missing file is an error, not an empty database.
    MustExist,
    /// A command that creates or migrates: only data left at the place the
    /// setting named before is refused.
    MayCreate,
}

/// Why a database of the configuration could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Missing file, or data left at the old place (exit 2).
    #[error("config: {0}")]
    Config(#[from] ConfigError),
    /// The setting is not a DSN (exit 2).
    #[error(transparent)]
    Dsn(#[from] DsnError),
    /// The database did not answer or refused us.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl OpenError {
    /// The configuration is wrong, rather than the database failing.
    pub fn is_usage(&self) -> bool {
        !matches!(self, OpenError::Db(_))
    }
}

impl Role {
    fn key(self) -> &'static str {
        match self {
            Role::Ledger => "ledger.path",
            Role::Identity => "identity.path",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Role::Ledger => "ledger",
            Role::Identity => "identity database",
        }
    }
}

/// Opens the `role` database of `loaded` with its role's pool; the DSN
/// comes back too, for the caller that migrates.
pub async fn open(loaded: &Loaded, role: Role, presence: Presence) -> Result<(Db, Dsn), OpenError> {
    match presence {
        Presence::MustExist => paths::require_database(loaded, role.key(), role.what())?,
        Presence::MayCreate => paths::refuse_moved(loaded)?,
    }
    let c = &loaded.config;
    let (path, settings, label) = match role {
        Role::Ledger => (&c.ledger.path, PoolSettings::ledger(c), "ledger"),
        Role::Identity => (&c.identity.path, PoolSettings::identity(c), "identity"),
    };
    let dsn = Dsn::parse(path)?;
    let db = Db::connect(&dsn, &settings, label).await?;
    Ok((db, dsn))
}
