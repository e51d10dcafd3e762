//! The identity tables (`users`, `api_keys`) on SQLite and PostgreSQL.
//!
//! Every statement is written once with `$n` placeholders, which both
//! engines accept, and run on whichever pool [`Db`] holds. Holds no caching
//! (see [`super::cache`]) and never sees a plaintext key except to hash it.

use super::IdentityError;
use super::access::AllowList;
use super::keys::{DISPLAY_PREFIX_CHARS, display_prefix, generate_key, hash_key};
use super::records::{CreatedKey, KeyInfo, KeyRecord, NewKey, UserInfo, check_name};
use crate::db::{Db, now_us, on_pool};

pub(super) fn query_err(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> IdentityError {
    let context = context.into();
    move |source| IdentityError::Query { context, source }
}

pub(super) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Creates a user; a taken name is [`IdentityError::UserExists`].
pub async fn create_user(db: &Db, name: &str) -> Result<i64, IdentityError> {
    check_name(name)?;
    const SQL: &str =
        "INSERT INTO users (name, disabled, created_at_us) VALUES ($1, $2, $3) RETURNING id";
    let res: Result<i64, sqlx::Error> = on_pool!(db, p => sqlx::query_scalar(SQL)
        .bind(name).bind(false).bind(now_us()).fetch_one(p).await);
    res.map_err(|e| match e {
        e if is_unique_violation(&e) => IdentityError::UserExists {
            name: name.to_string(),
        },
        e => query_err(format!("creating user `{name}`"))(e),
    })
}

/// All users in creation order, with their count of usable keys.
pub async fn list_users(db: &Db) -> Result<Vec<UserInfo>, IdentityError> {
    const SQL: &str = "SELECT u.id, u.name, u.disabled, u.created_at_us, \
        (SELECT count(*) FROM api_keys k WHERE k.user_id = u.id \
         AND (k.revoked_at_us IS NULL OR k.revoked_at_us > $1) \
         AND (k.expires_at_us IS NULL OR k.expires_at_us > $1)) AS active_keys, \
        t.name AS team, u.models, u.budget_nano, u.budget_window, u.budget_soft_percent, \
        u.budget_anchor_us \
        FROM users u LEFT JOIN teams t ON t.id = u.team_id ORDER BY u.id";
    on_pool!(db, p => sqlx::query_as(SQL).bind(now_us()).fetch_all(p).await)
        .map_err(query_err("listing users"))
}

/// Counts users (zero means a fresh install, see [`ensure_bootstrap`]).
pub async fn count_users(db: &Db) -> Result<i64, IdentityError> {
    on_pool!(db, p => sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(p).await)
        .map_err(query_err("counting users"))
}

/// Disables a user: every key of theirs is refused (within the cache TTL).
/// Disabling twice is not an error.
pub async fn disable_user(db: &Db, name: &str) -> Result<(), IdentityError> {
    const SQL: &str = "UPDATE users SET disabled = $1 WHERE name = $2";
    let done = on_pool!(db, p => sqlx::query(SQL).bind(true).bind(name).execute(p).await
        .map(|r| r.rows_affected()))
    .map_err(query_err(format!("disabling user `{name}`")))?;
    if done == 0 {
        return Err(IdentityError::UnknownUser {
            name: name.to_string(),
        });
    }
    Ok(())
}

const INSERT_KEY: &str = "INSERT INTO api_keys (user_id, name, key_hash, display_prefix, \
    created_at_us, expires_at_us, rps, burst, tokens_per_minute, models, budget_nano, \
    budget_window, budget_soft_percent, budget_anchor_us) \
    SELECT u.id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 \
    FROM users u WHERE u.name = $1 RETURNING id";

/// Creates a key for the user named `user`; returns its plaintext, the only
/// copy there will ever be.
pub async fn create_key(db: &Db, user: &str, k: &NewKey) -> Result<CreatedKey, IdentityError> {
    k.check()?;
    let plaintext = generate_key();
    let prefix = display_prefix(&plaintext);
    let id: Option<i64> = on_pool!(db, p => sqlx::query_scalar(INSERT_KEY)
        .bind(user).bind(&k.name).bind(hash_key(&plaintext)).bind(&prefix).bind(now_us())
        .bind(k.expires_at_us).bind(k.rps).bind(k.burst).bind(k.tokens_per_minute)
        .bind(k.models.as_ref().map(AllowList::to_text))
        .bind(k.budget.budget_nano).bind(&k.budget.budget_window)
        .bind(k.budget.budget_soft_percent).bind(k.budget.budget_anchor_us)
        .fetch_optional(p).await)
    .map_err(query_err(format!("creating a key for user `{user}`")))?;
    let key_id = id.ok_or_else(|| IdentityError::UnknownUser {
        name: user.to_string(),
    })?;
    Ok(CreatedKey {
        key_id,
        display_prefix: prefix,
        plaintext,
    })
}

/// The `SELECT ... FROM` of a [`KeyInfo`], to which callers add a `WHERE`.
macro_rules! key_info_select {
    () => {
        "SELECT k.id, k.user_id, u.name AS user_name, k.name, k.display_prefix, \
         k.created_at_us, k.expires_at_us, k.revoked_at_us, k.rps, k.burst, \
         k.tokens_per_minute, k.models, k.budget_nano, k.budget_window, k.budget_soft_percent, \
         k.budget_anchor_us FROM api_keys k JOIN users u ON u.id = k.user_id"
    };
}

/// Keys, newest last, optionally of one user (an unknown user is an error,
/// not an empty list).
pub async fn list_keys(db: &Db, user: Option<&str>) -> Result<Vec<KeyInfo>, IdentityError> {
    const SQL: &str = concat!(
        key_info_select!(),
        " WHERE ($1 IS NULL OR u.name = $1) ORDER BY k.id"
    );
    if let Some(name) = user {
        let known: Option<i64> =
            on_pool!(db, p => sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
            .bind(name).fetch_optional(p).await)
            .map_err(query_err(format!("looking up user `{name}`")))?;
        if known.is_none() {
            return Err(IdentityError::UnknownUser {
                name: name.to_string(),
            });
        }
    }
    on_pool!(db, p => sqlx::query_as(SQL).bind(user).fetch_all(p).await)
        .map_err(query_err("listing keys"))
}

/// Finds a key named by its id, its display prefix, or the full key; an
/// unknown one is [`IdentityError::UnknownKey`], a prefix several keys
/// share is [`IdentityError::AmbiguousPrefix`].
pub async fn find_key(db: &Db, id_or_prefix: &str) -> Result<KeyInfo, IdentityError> {
    let t = id_or_prefix.trim();
    let is_full_key = t.len() > DISPLAY_PREFIX_CHARS && t.parse::<i64>().is_err();
    // Errors name a full key by its prefix only: stderr ends up in logs.
    let shown = if is_full_key {
        format!("{}...", display_prefix(t))
    } else {
        t.to_string()
    };
    let unknown = || IdentityError::UnknownKey { key: shown.clone() };
    let id = if let Ok(id) = t.parse::<i64>() {
        id
    } else {
        let (sql, arg) = if is_full_key {
            ("SELECT id FROM api_keys WHERE key_hash = $1", hash_key(t))
        } else {
            (
                "SELECT id FROM api_keys WHERE display_prefix = $1",
                t.to_string(),
            )
        };
        let ids: Vec<i64> =
            on_pool!(db, p => sqlx::query_scalar(sql).bind(&arg).fetch_all(p).await)
                .map_err(query_err(format!("finding key `{shown}`")))?;
        match ids.as_slice() {
            [] => return Err(unknown()),
            [one] => *one,
            many => {
                return Err(IdentityError::AmbiguousPrefix {
                    prefix: shown.clone(),
                    ids: many
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
    };
    key_by_id(db, id).await?.ok_or_else(unknown)
}

/// One key as listed, by id.
pub(crate) async fn key_by_id(db: &Db, id: i64) -> Result<Option<KeyInfo>, IdentityError> {
    const ONE: &str = concat!(key_info_select!(), " WHERE k.id = $1");
    on_pool!(db, p => sqlx::query_as(ONE).bind(id).fetch_optional(p).await)
        .map_err(query_err(format!("reading key {id}")))
}

/// Revokes a key named by its id, its display prefix, or the full key.
/// Revoking twice keeps the first revocation time. Returns the key as listed.
pub async fn revoke_key(db: &Db, id_or_prefix: &str) -> Result<KeyInfo, IdentityError> {
    let key = find_key(db, id_or_prefix).await?;
    revoke_at(db, key.id, now_us()).await?;
    key_by_id(db, key.id)
        .await?
        .ok_or_else(|| IdentityError::UnknownKey {
            key: key.id.to_string(),
        })
}

/// Sets a key's revocation time to `at_us` (which may be in the future: a
/// grace period), unless it is already revoked earlier.
pub(crate) async fn revoke_at(db: &Db, id: i64, at_us: i64) -> Result<(), IdentityError> {
    const SQL: &str = "UPDATE api_keys SET revoked_at_us = \
        CASE WHEN revoked_at_us IS NOT NULL AND revoked_at_us <= $1 THEN revoked_at_us ELSE $1 END \
        WHERE id = $2";
    on_pool!(db, p => sqlx::query(SQL).bind(at_us).bind(id).execute(p).await.map(|_| ()))
        .map_err(query_err(format!("revoking key {id}")))?;
    Ok(())
}

/// The `SELECT ... FROM` of a [`KeyRecord`] (and its hash), with the
/// user's team and the three allow-lists.
macro_rules! key_record_select {
    () => {
        "SELECT k.key_hash, k.id AS key_id, k.user_id, u.name AS user_name, \
         u.disabled AS user_disabled, k.expires_at_us, k.revoked_at_us, k.rps, k.burst, \
         k.tokens_per_minute, u.team_id, k.models AS key_models, u.models AS user_models, \
         t.models AS team_models, \
         k.budget_nano AS key_budget_nano, k.budget_window AS key_budget_window, \
         k.budget_soft_percent AS key_budget_soft_percent, k.budget_anchor_us AS key_budget_anchor_us, \
         u.budget_nano AS user_budget_nano, u.budget_window AS user_budget_window, \
         u.budget_soft_percent AS user_budget_soft_percent, u.budget_anchor_us AS user_budget_anchor_us, \
         t.budget_nano AS team_budget_nano, t.budget_window AS team_budget_window, \
         t.budget_soft_percent AS team_budget_soft_percent, t.budget_anchor_us AS team_budget_anchor_us \
         FROM api_keys k JOIN users u ON u.id = k.user_id LEFT JOIN teams t ON t.id = u.team_id"
    };
}

/// Looks a key up by its stored hash ([`hash_key`]); `None` when unknown.
pub async fn lookup_by_hash(db: &Db, key_hash: &str) -> Result<Option<KeyRecord>, IdentityError> {
    const SQL: &str = concat!(key_record_select!(), " WHERE k.key_hash = $1");
    let found: Option<KeyRecord> =
        on_pool!(db, p => sqlx::query_as(SQL).bind(key_hash).fetch_optional(p).await)
            .map_err(query_err("looking up an API key"))?;
    Ok(found.map(KeyRecord::compiled))
}

/// Every key with its hash (hex) and what a lookup would say of it, for
/// the identity snapshot ([`super::snapshot`]).
pub async fn all_key_records(db: &Db) -> Result<Vec<(String, KeyRecord)>, IdentityError> {
    const SQL: &str = concat!(key_record_select!(), " ORDER BY k.id");
    #[derive(sqlx::FromRow)]
    struct Row {
        key_hash: String,
        #[sqlx(flatten)]
        record: KeyRecord,
    }
    let rows: Vec<Row> = on_pool!(db, p => sqlx::query_as(SQL).fetch_all(p).await)
        .map_err(query_err("reading every API key for the identity snapshot"))?;
    Ok(rows
        .into_iter()
        .map(|r| (r.key_hash, r.record.compiled()))
        .collect())
}

/// On a fresh install (no users at all), creates user `admin` with one key
/// and returns that key; otherwise `None`.
///
/// Safe when several gateways start at once: the insert is conditional on
/// the table being empty and on the name being free (`ON CONFLICT DO
/// NOTHING`), and the user and its key commit together, so exactly one
/// process creates the admin and the others see `None`.
pub async fn ensure_bootstrap(db: &Db) -> Result<Option<String>, IdentityError> {
    const USER: &str = "INSERT INTO users (name, disabled, created_at_us) \
        SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM users) \
        ON CONFLICT (name) DO NOTHING RETURNING id";
    const KEY: &str = "INSERT INTO api_keys (user_id, name, key_hash, display_prefix, \
        created_at_us) VALUES ($1, $2, $3, $4, $5)";
    let ctx = "creating the bootstrap user `admin`";
    let plaintext = generate_key();
    let created: Option<i64> = on_pool!(db, p => {
        let mut tx = p.begin().await.map_err(query_err(ctx))?;
        // The first statement writes, so SQLite takes the write lock at once
        // (waiting out the busy timeout) instead of failing to upgrade a read.
        let id: Option<i64> = sqlx::query_scalar(USER)
            .bind("admin").bind(false).bind(now_us())
            .fetch_optional(&mut *tx).await.map_err(query_err(ctx))?;
        if let Some(id) = id {
            sqlx::query(KEY)
                .bind(id).bind("bootstrap").bind(hash_key(&plaintext))
                .bind(display_prefix(&plaintext)).bind(now_us())
                .execute(&mut *tx).await.map_err(query_err(ctx))?;
        }
        tx.commit().await.map_err(query_err(ctx))?;
        id
    });
    Ok(created.map(|_| plaintext))
}
