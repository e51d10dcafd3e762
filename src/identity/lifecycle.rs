//! The rest of a user's and a key's life: enabling a disabled user,
//! deleting a user (never silently orphaning their ledger rows), rotating a
//! key with a grace period, and what state a key is in at a given time.

use super::IdentityError;
use super::keys::{display_prefix, generate_key, hash_key};
use super::records::{CreatedKey, KeyInfo};
use super::store::{find_key, key_by_id, query_err};
use crate::db::on_pool;
use crate::db::{Db, now_us};

/// Where a key stands at one moment, as `tokctl keys list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    Active,
    /// Still accepted until its revocation time (a rotation's grace period);
    /// shown as `revoking`.
    RevokedLater,
    Revoked,
    Expired,
}

impl KeyState {
    /// The state of `k` at `now_us`: a revocation that took effect wins over
    /// an expiry.
    pub fn of(k: &KeyInfo, now_us: i64) -> KeyState {
        match (k.revoked_at_us, k.expires_at_us) {
            (Some(r), _) if r <= now_us => KeyState::Revoked,
            (_, Some(e)) if e <= now_us => KeyState::Expired,
            (Some(_), _) => KeyState::RevokedLater,
            _ => KeyState::Active,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::RevokedLater => "revoking",
            KeyState::Revoked => "revoked",
            KeyState::Expired => "expired",
        }
    }
}

/// Enables a disabled user; enabling twice is not an error.
pub async fn enable_user(db: &Db, name: &str) -> Result<(), IdentityError> {
    const SQL: &str = "UPDATE users SET disabled = $1 WHERE name = $2";
    let done = on_pool!(db, p => sqlx::query(SQL).bind(false).bind(name).execute(p).await
        .map(|r| r.rows_affected()))
    .map_err(query_err(format!("enabling user `{name}`")))?;
    if done == 0 {
        return Err(IdentityError::UnknownUser {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// What [`delete_user`] removed and kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    pub user_id: i64,
    pub keys: u64,
    /// Ledger rows of the user, kept with their user id and name.
    pub ledger_rows: i64,
}

/// Deletes a user and their keys. While the ledger holds rows of theirs it
/// is refused ([`IdentityError::HasLedgerRows`]) unless `keep_ledger`: the
/// rows are then kept as they are, naming the deleted user's id (ids are
/// never reused) and name.
pub async fn delete_user(
    identity: &Db,
    ledger: &Db,
    name: &str,
    keep_ledger: bool,
) -> Result<Deleted, IdentityError> {
    let id: Option<i64> = on_pool!(identity, p => sqlx::query_scalar(
        "SELECT id FROM users WHERE name = $1").bind(name).fetch_optional(p).await)
    .map_err(query_err(format!("looking up user `{name}`")))?;
    let user_id = id.ok_or_else(|| IdentityError::UnknownUser {
        name: name.to_string(),
    })?;
    let rows: i64 = on_pool!(ledger, p => sqlx::query_scalar(
        "SELECT count(*) FROM usage_entries WHERE user_id = $1").bind(user_id).fetch_one(p).await)
    .map_err(|source| IdentityError::Query {
        context: format!("counting the ledger rows of user `{name}` (in the ledger database)"),
        source,
    })?;
    if rows > 0 && !keep_ledger {
        return Err(IdentityError::HasLedgerRows {
            name: name.to_string(),
            rows,
        });
    }
    let ctx = format!("deleting user `{name}`");
    let keys = on_pool!(identity, p => {
        let mut tx = p.begin().await.map_err(query_err(ctx.clone()))?;
        let keys = sqlx::query("DELETE FROM api_keys WHERE user_id = $1")
            .bind(user_id).execute(&mut *tx).await.map_err(query_err(ctx.clone()))?
            .rows_affected();
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id).execute(&mut *tx).await.map_err(query_err(ctx.clone()))?;
        tx.commit().await.map_err(query_err(ctx.clone()))?;
        keys
    });
    Ok(Deleted {
        user_id,
        keys,
        ledger_rows: rows,
    })
}

/// A rotation: the new key (shown once) and the old one as it now stands.
#[derive(Debug, Clone)]
pub struct Rotated {
    pub new: CreatedKey,
    pub old: KeyInfo,
}

/// Replaces a key with a new one of the same user, name, limits, budget
/// (with its anchor: the window does not restart, though spend counted per
/// key id starts again with the new key),
/// allow-list and (a future) expiry; the old key is revoked `grace_us` from now (0: at once),
/// so clients can move over. Both changes commit together.
pub async fn rotate_key(
    db: &Db,
    id_or_prefix: &str,
    grace_us: i64,
) -> Result<Rotated, IdentityError> {
    let old = find_key(db, id_or_prefix).await?;
    let now = now_us();
    if KeyState::of(&old, now) == KeyState::Revoked {
        return Err(IdentityError::AlreadyRevoked {
            key: old.display_prefix.clone(),
        });
    }
    let expires = old.expires_at_us.filter(|e| *e > now);
    let revoke_at = now.saturating_add(grace_us.max(0));
    let plaintext = generate_key();
    let prefix = display_prefix(&plaintext);
    let ctx = format!("rotating key {}", old.id);
    const INSERT: &str = "INSERT INTO api_keys (user_id, name, key_hash, display_prefix, \
        created_at_us, expires_at_us, rps, burst, tokens_per_minute, models, budget_nano, \
        budget_window, budget_soft_percent, budget_anchor_us) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id";
    const REVOKE: &str = "UPDATE api_keys SET revoked_at_us = $1 WHERE id = $2";
    let key_id: i64 = on_pool!(db, p => {
        let mut tx = p.begin().await.map_err(query_err(ctx.clone()))?;
        let id: i64 = sqlx::query_scalar(INSERT)
            .bind(old.user_id).bind(&old.name).bind(hash_key(&plaintext)).bind(&prefix)
            .bind(now).bind(expires).bind(old.rps).bind(old.burst).bind(old.tokens_per_minute)
            .bind(&old.models).bind(old.budget.budget_nano).bind(&old.budget.budget_window)
            .bind(old.budget.budget_soft_percent).bind(old.budget.budget_anchor_us)
            .fetch_one(&mut *tx).await.map_err(query_err(ctx.clone()))?;
        sqlx::query(REVOKE).bind(revoke_at).bind(old.id)
            .execute(&mut *tx).await.map_err(query_err(ctx.clone()))?;
        tx.commit().await.map_err(query_err(ctx.clone()))?;
        id
    });
    let old = key_by_id(db, old.id)
        .await?
        .ok_or_else(|| IdentityError::UnknownKey {
            key: old.id.to_string(),
        })?;
    Ok(Rotated {
        new: CreatedKey {
            key_id,
            display_prefix: prefix,
            plaintext,
        },
        old,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(revoked: Option<i64>, expires: Option<i64>) -> KeyInfo {
        KeyInfo {
            id: 1,
            user_id: 1,
            user_name: "a".into(),
            name: String::new(),
            display_prefix: "tok_AbCd1234".into(),
            created_at_us: 0,
            expires_at_us: expires,
            revoked_at_us: revoked,
            rps: None,
            burst: None,
            tokens_per_minute: None,
            models: None,
            budget: Default::default(),
        }
    }

    #[test]
    fn states_at_a_moment() {
        assert_eq!(KeyState::of(&key(None, None), 10), KeyState::Active);
        assert_eq!(KeyState::of(&key(None, Some(10)), 10), KeyState::Expired);
        assert_eq!(KeyState::of(&key(None, Some(11)), 10), KeyState::Active);
        assert_eq!(KeyState::of(&key(Some(5), Some(1)), 10), KeyState::Revoked);
        assert_eq!(
            KeyState::of(&key(Some(20), None), 10),
            KeyState::RevokedLater
        );
        assert_eq!(KeyState::of(&key(Some(20), Some(5)), 10), KeyState::Expired);
    }
}
