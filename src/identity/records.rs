//! The rows of the identity tables as Rust types, and the checks on values
//! a caller supplies (user names, per-key limits). No I/O here; the SQL is
//! in [`super::store`].

use std::sync::Arc;

use sqlx::FromRow;

use super::IdentityError;
use super::access::{AllowList, ModelAccess, Scope};
use super::budgets::{self, BudgetColumns};

/// What the authenticator needs to know about a presented key (also what
/// the identity snapshot keeps of each key). The fields after
/// `tokens_per_minute` came with teams (#34): `serde(default)` reads a
/// snapshot written before them.
#[derive(Debug, Clone, Default, PartialEq, FromRow, serde::Serialize, serde::Deserialize)]
pub struct KeyRecord {
    pub key_id: i64,
    pub user_id: i64,
    pub user_name: String,
    pub user_disabled: bool,
    pub expires_at_us: Option<i64>,
    pub revoked_at_us: Option<i64>,
    pub rps: Option<f64>,
    pub burst: Option<i32>,
    pub tokens_per_minute: Option<i64>,
    /// The user's team now (the ledger's `team_id`).
    #[serde(default)]
    pub team_id: Option<i64>,
    /// Allow-lists as stored (comma-separated globs; `None`: no restriction).
    #[serde(default)]
    pub key_models: Option<String>,
    #[serde(default)]
    pub user_models: Option<String>,
    #[serde(default)]
    pub team_models: Option<String>,
    /// The budget columns of key, user and team ([`super::budgets`]), as
    /// stored; compiled into `budgets`.
    #[serde(default)]
    pub key_budget_nano: Option<i64>,
    #[serde(default)]
    pub key_budget_window: Option<String>,
    #[serde(default)]
    pub key_budget_soft_percent: Option<i32>,
    #[serde(default)]
    pub key_budget_anchor_us: Option<i64>,
    #[serde(default)]
    pub user_budget_nano: Option<i64>,
    #[serde(default)]
    pub user_budget_window: Option<String>,
    #[serde(default)]
    pub user_budget_soft_percent: Option<i32>,
    #[serde(default)]
    pub user_budget_anchor_us: Option<i64>,
    #[serde(default)]
    pub team_budget_nano: Option<i64>,
    #[serde(default)]
    pub team_budget_window: Option<String>,
    #[serde(default)]
    pub team_budget_soft_percent: Option<i32>,
    #[serde(default)]
    pub team_budget_anchor_us: Option<i64>,
    /// The three lists compiled ([`KeyRecord::compiled`]), so that a cached
    /// key's requests never parse a glob.
    #[sqlx(skip)]
    #[serde(skip)]
    pub access: Option<Arc<ModelAccess>>,
    /// The budgets of key, user and team that are set, parsed once when
    /// the record is loaded; `None` when none is.
    #[sqlx(skip)]
    #[serde(skip)]
    pub budgets: Option<Arc<[crate::budget::Budget]>>,
}

impl KeyRecord {
    /// The record with its allow-lists compiled into `access` and its
    /// budgets into `budgets`.
    pub fn compiled(mut self) -> KeyRecord {
        self.access = ModelAccess::compile(
            self.key_models.as_deref(),
            self.user_models.as_deref(),
            self.team_models.as_deref(),
        );
        self.budgets = budgets::compile([
            (
                Scope::Key,
                Some(self.key_id),
                self.budget_columns(Scope::Key),
            ),
            (
                Scope::User,
                Some(self.user_id),
                self.budget_columns(Scope::User),
            ),
            (Scope::Team, self.team_id, self.budget_columns(Scope::Team)),
        ]);
        self
    }

    /// The stored budget columns of one level.
    pub fn budget_columns(&self, scope: Scope) -> BudgetColumns {
        let (budget_nano, budget_window, budget_soft_percent, budget_anchor_us) = match scope {
            Scope::Key => (
                self.key_budget_nano,
                &self.key_budget_window,
                self.key_budget_soft_percent,
                self.key_budget_anchor_us,
            ),
            Scope::User => (
                self.user_budget_nano,
                &self.user_budget_window,
                self.user_budget_soft_percent,
                self.user_budget_anchor_us,
            ),
            Scope::Team => (
                self.team_budget_nano,
                &self.team_budget_window,
                self.team_budget_soft_percent,
                self.team_budget_anchor_us,
            ),
        };
        BudgetColumns {
            budget_nano,
            budget_window: budget_window.clone(),
            budget_soft_percent,
            budget_anchor_us,
        }
    }
}

/// One line of `tokctl users list`.
#[derive(Debug, Clone, PartialEq, FromRow, serde::Serialize)]
pub struct UserInfo {
    pub id: i64,
    pub name: String,
    pub disabled: bool,
    pub created_at_us: i64,
    /// Keys neither revoked nor expired.
    pub active_keys: i64,
    /// The user's team, by name.
    pub team: Option<String>,
    /// The user's allow-list (comma-separated globs; `None`: no restriction).
    pub models: Option<String>,
    /// The user's budget (`budget_*`; all `None`: none).
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub budget: BudgetColumns,
}

/// One line of `tokctl keys list`: everything but the key itself.
#[derive(Debug, Clone, PartialEq, FromRow, serde::Serialize)]
pub struct KeyInfo {
    pub id: i64,
    pub user_id: i64,
    pub user_name: String,
    pub name: String,
    pub display_prefix: String,
    pub created_at_us: i64,
    pub expires_at_us: Option<i64>,
    pub revoked_at_us: Option<i64>,
    pub rps: Option<f64>,
    pub burst: Option<i32>,
    pub tokens_per_minute: Option<i64>,
    /// The key's allow-list (comma-separated globs; `None`: no restriction).
    pub models: Option<String>,
    /// The key's budget (`budget_*`; all `None`: none).
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub budget: BudgetColumns,
}

/// The settings of a key to create; `None` limits fall back to the
/// configured defaults of `[rate_limit]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewKey {
    pub name: String,
    pub expires_at_us: Option<i64>,
    pub rps: Option<f64>,
    pub burst: Option<i32>,
    pub tokens_per_minute: Option<i64>,
    /// The key's allow-list, checked ([`super::access::AllowList::parse`]).
    pub models: Option<AllowList>,
    /// The key's budget as stored (see [`super::budget_set::BudgetChange::apply`]).
    pub budget: BudgetColumns,
}

/// A key just created: the only time its plaintext exists.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub key_id: i64,
    pub display_prefix: String,
    /// The full key; shown once, never stored.
    pub plaintext: String,
}

/// A team name follows the rules of a user name.
pub(crate) fn check_team_name(name: &str) -> Result<(), IdentityError> {
    check_name(name).map_err(|e| match e {
        IdentityError::InvalidName { name, reason } => {
            IdentityError::InvalidTeamName { name, reason }
        }
        e => e,
    })
}

pub(crate) fn check_name(name: &str) -> Result<(), IdentityError> {
    let bad = |reason| IdentityError::InvalidName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > 128 {
        return Err(bad("it is longer than 128 bytes"));
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("it contains whitespace or control characters"));
    }
    Ok(())
}

impl NewKey {
    /// A key's settings as given on the command line: `expires` (a duration
    /// from `now_us` or an RFC 3339 time) parsed, the limits checked.
    pub fn parse(
        name: String,
        expires: Option<&str>,
        rps: Option<f64>,
        burst: Option<i32>,
        tokens_per_minute: Option<i64>,
        now_us: i64,
    ) -> Result<NewKey, IdentityError> {
        let key = NewKey {
            name,
            expires_at_us: expires
                .map(|t| super::keys::parse_expiry(t, now_us))
                .transpose()?,
            rps,
            burst,
            tokens_per_minute,
            models: None,
            budget: BudgetColumns::default(),
        };
        key.check()?;
        Ok(key)
    }

    /// Whether the key carries limits of its own (which rate_limit.enabled
    /// = false would leave unenforced).
    pub fn has_limits(&self) -> bool {
        self.rps.is_some() || self.burst.is_some() || self.tokens_per_minute.is_some()
    }

    /// Refuses limits that could never admit a request (zero, negative, NaN).
    pub fn check(&self) -> Result<(), IdentityError> {
        let bad = |what, value: String, reason| IdentityError::InvalidLimit {
            what,
            value,
            reason,
        };
        if let Some(r) = self.rps.filter(|r| !(r.is_finite() && *r > 0.0)) {
            return Err(bad("rps", r.to_string(), "expected a number above 0"));
        }
        if let Some(b) = self.burst.filter(|b| *b < 1) {
            return Err(bad("burst", b.to_string(), "expected at least 1"));
        }
        if let Some(t) = self.tokens_per_minute.filter(|t| *t < 1) {
            return Err(bad(
                "tokens per minute",
                t.to_string(),
                "expected at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_plain() {
        assert!(check_name("alice").is_ok());
        for bad in ["", "a b", "tab\there", &"x".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn command_line_settings_are_parsed_and_checked() {
        let now = 1_700_000_000_000_000;
        let k = NewKey::parse("ci".into(), Some("1h"), Some(2.0), None, None, now).expect("ok");
        assert_eq!(k.expires_at_us, Some(now + 3_600_000_000));
        assert!(k.has_limits());
        assert!(
            !NewKey::parse(String::new(), None, None, None, None, now)
                .expect("no limits")
                .has_limits()
        );
        assert!(NewKey::parse("x".into(), Some("0s"), None, None, None, now).is_err());
        assert!(NewKey::parse("x".into(), None, None, Some(0), None, now).is_err());
    }

    #[test]
    fn limits_must_admit_something() {
        assert!(NewKey::default().check().is_ok());
        let ok = NewKey {
            rps: Some(0.5),
            burst: Some(1),
            tokens_per_minute: Some(1),
            ..NewKey::default()
        };
        assert!(ok.check().is_ok());
        for bad in [
            NewKey {
                rps: Some(0.0),
                ..NewKey::default()
            },
            NewKey {
                rps: Some(f64::NAN),
                ..NewKey::default()
            },
            NewKey {
                burst: Some(0),
                ..NewKey::default()
            },
            NewKey {
                tokens_per_minute: Some(-5),
                ..NewKey::default()
            },
        ] {
            assert!(
                matches!(bad.check(), Err(IdentityError::InvalidLimit { .. })),
                "{bad:?}"
            );
        }
    }
}
