//! Users and API keys: creating them, hashing keys for storage, looking a
//! presented key up (cached, for the gateway's hot path) and revoking.
//!
//! - [`keys`]: key generation, hashing, display prefixes, `--expires` parsing.
//! - [`records`]: the rows as types, and checks on supplied values.
//! - [`store`]: the SQL, on SQLite and PostgreSQL alike.
//! - [`lifecycle`]: enable and delete users, rotate keys, a key's state.
//! - [`auth`]: what a lookup decides ([`Principal`] or [`AuthError`]).
//! - [`cache`]: the [`Authenticator`] the gateway calls per request;
//!   `outage` holds what it knows of the database's health.
//! - [`header`]: where a request carries its key.
//! - [`snapshot`]: the local copy of every key's hash and state, for a
//!   start during an outage of the identity database.
//!
//! - [`teams`]: teams and a user's membership (#34).
//! - [`access`]: model allow-lists (globs) and the check made with them.
//! - [`update`]: changing a user's team and lists, a key's list.
//! - [`budgets`]: spend budgets as stored, parsed and shown;
//!   [`budget_set`]: setting and clearing them.
//!
//! Rate limiting itself lives in `ratelimit/`; this module only carries the
//! per-key overrides to it.

pub mod access;
pub mod auth;
pub mod budget_set;
pub mod budgets;
pub mod cache;
pub mod header;
pub mod keys;
pub mod lifecycle;
mod outage;
pub mod records;
pub mod snapshot;
pub mod store;
pub mod teams;
pub mod update;

pub use auth::{AuthError, Principal};
pub use cache::Authenticator;
pub use header::presented_key;
pub use keys::{display_prefix, generate_key, hash_key, parse_expiry};
pub use records::{CreatedKey, KeyInfo, KeyRecord, NewKey, UserInfo};

/// Errors of the identity store and its inputs; each names the user, key or
/// value involved.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("user `{name}` already exists (see `tokctl users list`)")]
    UserExists { name: String },
    #[error(
        "no user named `{name}` (see `tokctl users list`, or create it with `tokctl users create {name}`)"
    )]
    UnknownUser { name: String },
    #[error("no API key with id or prefix `{key}` (see `tokctl keys list`)")]
    UnknownKey { key: String },
    #[error("the prefix `{prefix}` matches several keys (ids {ids}); name the key by id instead")]
    AmbiguousPrefix { prefix: String, ids: String },
    #[error(
        "user `{name}` has {rows} ledger row(s); deleting would leave them naming a user who no longer exists: \
         pass --keep-ledger to delete anyway (the rows keep the user's id and name), or `tokctl users disable {name}`"
    )]
    HasLedgerRows { name: String, rows: i64 },
    #[error("key `{key}` is already revoked; create a new one with `tokctl keys create`")]
    AlreadyRevoked { key: String },
    #[error("invalid user name `{name}`: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("invalid expiry `{text}`: {reason}")]
    InvalidExpiry { text: String, reason: String },
    #[error("invalid {what} `{value}`: {reason}")]
    InvalidLimit {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error(
        "no team named `{name}` (see `tokctl teams list`, or create it with `tokctl teams create {name}`)"
    )]
    UnknownTeam { name: String },
    #[error("team `{name}` already exists (see `tokctl teams show {name}`)")]
    TeamExists { name: String },
    #[error(
        "team `{name}` has {members} member(s) ({names}); move them first with `tokctl users update NAME --team OTHER`, \
         or pass --force to delete the team and leave its members without a team"
    )]
    TeamHasMembers {
        name: String,
        members: usize,
        names: String,
    },
    #[error("invalid team name `{name}`: {reason}")]
    InvalidTeamName { name: String, reason: &'static str },
    #[error("nothing to change: {what}")]
    NothingToChange { what: &'static str },
    #[error("invalid --models `{text}`: {reason}")]
    InvalidModels { text: String, reason: String },
    #[error("invalid {flag} `{value}`: {reason}")]
    InvalidBudget {
        flag: &'static str,
        value: String,
        reason: String,
    },
    #[error(
        "{owner} has no budget to change: pass --budget AMOUNT too (e.g. --budget 50 --budget-window monthly)"
    )]
    NoBudget { owner: String },
    #[error("{context} in the identity database: {source}")]
    Query {
        context: String,
        #[source]
        source: sqlx::Error,
    },
}

impl IdentityError {
    /// Whether the caller gave a bad value (a usage error, exit 2), as opposed
    /// to an operation that failed (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            IdentityError::InvalidExpiry { .. }
                | IdentityError::InvalidLimit { .. }
                | IdentityError::InvalidName { .. }
                | IdentityError::InvalidTeamName { .. }
                | IdentityError::InvalidModels { .. }
                | IdentityError::InvalidBudget { .. }
                | IdentityError::NothingToChange { .. }
        )
    }
}
