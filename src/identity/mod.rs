//! TEMPORARY STUB (not committed): replaced by the identity branch.
use std::sync::Arc;
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub user_name: String,
    pub key_id: i64,
    pub rps: Option<f64>,
    pub burst: Option<i32>,
    pub tokens_per_minute: Option<i64>,
}
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing")]
    Missing,
    #[error("invalid")]
    Invalid,
    #[error("revoked")]
    Revoked,
    #[error("expired")]
    Expired,
    #[error("disabled")]
    Disabled,
    #[error("unavailable")]
    Unavailable,
}
impl AuthError {
    pub fn label(&self) -> &'static str {
        "x"
    }
}
#[derive(Clone)]
pub struct Authenticator {
    _db: Arc<crate::db::Db>,
}
impl Authenticator {
    pub fn new(db: crate::db::Db, _ttl: std::time::Duration) -> Self {
        Self { _db: Arc::new(db) }
    }
    pub async fn authenticate(&self, key: &str) -> Result<Principal, AuthError> {
        if key == "tok_test" {
            Ok(Principal {
                user_id: 1,
                user_name: "admin".into(),
                key_id: 1,
                rps: None,
                burst: None,
                tokens_per_minute: None,
            })
        } else {
            Err(AuthError::Invalid)
        }
    }
}
pub fn presented_key(h: &http::HeaderMap) -> Option<&str> {
    h.get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| h.get("x-api-key").and_then(|v| v.to_str().ok()))
}
pub async fn ensure_bootstrap(_db: &crate::db::Db) -> Result<Option<String>, AuthError> {
    Ok(None)
}
