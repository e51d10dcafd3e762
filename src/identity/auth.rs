//! What authenticating a request decides: a [`Principal`] to bill and rate
//! limit, or an [`AuthError`] that says what the client should fix.
//!
//! Holds the decision only ([`decide`]); where the [`KeyRecord`] comes from
//! (cache or database) is [`super::cache`]'s business.

use std::sync::Arc;

use http::StatusCode;

use super::access::ModelAccess;
use super::keys::format_us;
use super::records::KeyRecord;

/// Who a request acts for, with the key's rate-limit overrides (`None`: the
/// configured defaults apply), the user's team and what models it may use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Principal {
    pub user_id: i64,
    pub user_name: String,
    pub key_id: i64,
    pub rps: Option<f64>,
    pub burst: Option<i32>,
    pub tokens_per_minute: Option<i64>,
    /// The user's team when the key was looked up (the ledger's `team_id`).
    pub team_id: Option<i64>,
    /// The allow-lists of key, user and team, compiled; `None`: any model.
    pub access: Option<Arc<ModelAccess>>,
    /// The spend budgets of key, user and team that are set (#34); `None`:
    /// no budget applies, and admission reserves nothing.
    pub budgets: Option<Arc<[crate::budget::Budget]>>,
}

/// Why a request is not admitted. Messages go to the client, so they say
/// what to fix and never echo the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    #[error("no API key: send `Authorization: Bearer <key>` or `x-api-key: <key>`")]
    Missing,
    #[error("the API key is not valid: check that it was copied whole, or ask for a new one")]
    Invalid,
    #[error("the API key was revoked at {}: ask for a new one", format_us(*at_us))]
    Revoked { at_us: i64 },
    #[error("the API key expired at {}: ask for a new one", format_us(*at_us))]
    Expired { at_us: i64 },
    #[error("the user `{user}` is disabled: ask an administrator")]
    Disabled { user: String },
    #[error("the identity database is unreachable and this key is not cached: retry shortly")]
    Unavailable,
}

impl AuthError {
    /// A fixed, low-cardinality label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Invalid => "invalid",
            AuthError::Revoked { .. } => "revoked",
            AuthError::Expired { .. } => "expired",
            AuthError::Disabled { .. } => "disabled",
            AuthError::Unavailable => "unavailable",
        }
    }

    /// The HTTP status to answer with: 401 for every fault of the key, 503
    /// when the gateway cannot tell (the client should retry, not give up).
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

/// Decides on a found key at `now_us`. Expiry is checked here, at request
/// time, so a cached key stops working the moment it expires.
pub fn decide(record: &KeyRecord, now_us: i64) -> Result<Principal, AuthError> {
    if let Some(at_us) = record.revoked_at_us.filter(|at| *at <= now_us) {
        return Err(AuthError::Revoked { at_us });
    }
    if let Some(at_us) = record.expires_at_us.filter(|at| *at <= now_us) {
        return Err(AuthError::Expired { at_us });
    }
    if record.user_disabled {
        return Err(AuthError::Disabled {
            user: record.user_name.clone(),
        });
    }
    Ok(Principal {
        user_id: record.user_id,
        user_name: record.user_name.clone(),
        key_id: record.key_id,
        rps: record.rps,
        burst: record.burst,
        tokens_per_minute: record.tokens_per_minute,
        team_id: record.team_id,
        access: record.access.clone(),
        budgets: record.budgets.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> KeyRecord {
        KeyRecord {
            key_id: 7,
            user_id: 3,
            user_name: "alice".into(),
            user_disabled: false,
            expires_at_us: None,
            revoked_at_us: None,
            rps: Some(2.5),
            burst: None,
            tokens_per_minute: Some(1000),
            ..KeyRecord::default()
        }
    }

    #[test]
    fn a_live_key_gives_its_principal() {
        let p = decide(&record(), 100).map_err(|e| e.to_string());
        assert_eq!(p.as_ref().map(|p| (p.key_id, p.user_id)), Ok((7, 3)));
        assert_eq!(p.map(|p| p.rps), Ok(Some(2.5)));
    }

    #[test]
    fn revoked_expired_disabled_are_refused() {
        let r = KeyRecord {
            revoked_at_us: Some(50),
            ..record()
        };
        assert_eq!(decide(&r, 100), Err(AuthError::Revoked { at_us: 50 }));
        let r = KeyRecord {
            expires_at_us: Some(100),
            ..record()
        };
        assert_eq!(decide(&r, 100), Err(AuthError::Expired { at_us: 100 }));
        let r = KeyRecord {
            expires_at_us: Some(101),
            ..record()
        };
        assert!(decide(&r, 100).is_ok());
        let r = KeyRecord {
            user_disabled: true,
            ..record()
        };
        assert_eq!(decide(&r, 100).map_err(|e| e.label()), Err("disabled"));
    }

    #[test]
    fn unavailable_is_503_others_401() {
        assert_eq!(
            AuthError::Unavailable.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(AuthError::Invalid.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(AuthError::Missing.label(), "missing");
    }
}
