//! Changing users and keys after creation (#34): a user's team and
//! allow-list (`tokctl users create|update … --team T --models …`), a
//! key's allow-list (`tokctl keys update … --models …`). Changes reach the
//! gateway within `auth.cache_ttl_ms`, like a revocation.

use super::IdentityError;
use super::access::{AllowList, parse_flag};
use super::budget_set::{BudgetChange, BudgetOwner, plan_budget, write_budget};
use super::records::{KeyInfo, UserInfo, check_name};
use super::store::{find_key, is_unique_violation, key_by_id, list_users, query_err};
use super::teams::team_id;
use crate::db::{Db, now_us, on_pool};

/// A user's team and allow-list as given on the command line; `None`
/// fields are left as they are (on create: none).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserSettings {
    /// `Some(None)` removes the user from their team.
    pub team: Option<Option<String>>,
    /// `Some(None)` clears the list (any model).
    pub models: Option<Option<AllowList>>,
    /// The budget flags ([`BudgetChange::parse`]).
    pub budget: BudgetChange,
}

impl UserSettings {
    /// From `--team T` (`''` removes), `--no-team` and `--models LIST`
    /// (`''` clears), checked before any database is touched.
    pub fn parse(
        team: Option<&str>,
        no_team: bool,
        models: Option<&str>,
    ) -> Result<UserSettings, IdentityError> {
        let team = match (team.map(str::trim), no_team) {
            (_, true) | (Some(""), _) => Some(None),
            (Some(t), false) => Some(Some(t.to_string())),
            (None, false) => None,
        };
        Ok(UserSettings {
            team,
            models: parse_flag(models)?,
            budget: BudgetChange::Keep,
        })
    }

    /// Whether anything would change.
    pub fn is_empty(&self) -> bool {
        self.team.is_none() && self.models.is_none() && self.budget.is_keep()
    }

    fn models_text(&self) -> Option<Option<String>> {
        self.models
            .as_ref()
            .map(|m| m.as_ref().map(AllowList::to_text))
    }
}

/// The team id a setting names (an unknown name is an error naming it).
async fn resolve(db: &Db, team: &Option<Option<String>>) -> Result<Option<i64>, IdentityError> {
    match team {
        Some(Some(name)) => Ok(Some(team_id(db, name).await?)),
        _ => Ok(None),
    }
}

/// Creates a user already in a team and/or with an allow-list.
pub async fn create_user_with(db: &Db, name: &str, s: &UserSettings) -> Result<i64, IdentityError> {
    check_name(name)?;
    let team = resolve(db, &s.team).await?;
    const SQL: &str = "INSERT INTO users (name, disabled, created_at_us, team_id, models, \
        budget_nano, budget_window, budget_soft_percent, budget_anchor_us) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
    let models = s.models_text().flatten();
    let now = now_us();
    let b = s.budget.for_new(now);
    let res: Result<i64, sqlx::Error> = on_pool!(db, p => sqlx::query_scalar(SQL)
        .bind(name).bind(false).bind(now).bind(team).bind(&models)
        .bind(b.budget_nano).bind(&b.budget_window).bind(b.budget_soft_percent)
        .bind(b.budget_anchor_us).fetch_one(p).await);
    res.map_err(|e| match e {
        e if is_unique_violation(&e) => IdentityError::UserExists {
            name: name.to_string(),
        },
        e => query_err(format!("creating user `{name}`"))(e),
    })
}

/// Moves a user into a team (or out of theirs), replaces their
/// allow-list and/or changes their budget; returns the user as listed now.
/// Everything is checked before anything is written, so an unknown user
/// or team, or a budget change that needs a budget already set, changes
/// nothing.
pub async fn update_user(db: &Db, name: &str, s: &UserSettings) -> Result<UserInfo, IdentityError> {
    if s.is_empty() {
        return Err(IdentityError::NothingToChange {
            what: "pass --team T, --no-team, --models LIST, --budget AMOUNT or --no-budget",
        });
    }
    let team = resolve(db, &s.team).await?;
    let budget = match s.budget.is_keep() {
        true => None,
        false => Some(plan_budget(db, BudgetOwner::User(name), &s.budget).await?),
    };
    let models = s.models_text();
    const SQL: &str = "UPDATE users SET \
        team_id = CASE WHEN $1 THEN $2 ELSE team_id END, \
        models = CASE WHEN $3 THEN $4 ELSE models END WHERE name = $5";
    let done = on_pool!(db, p => sqlx::query(SQL)
        .bind(s.team.is_some()).bind(team).bind(models.is_some()).bind(models.flatten())
        .bind(name).execute(p).await.map(|r| r.rows_affected()))
    .map_err(query_err(format!("updating user `{name}`")))?;
    let unknown = || IdentityError::UnknownUser {
        name: name.to_string(),
    };
    if done == 0 {
        return Err(unknown());
    }
    if let Some(plan) = &budget {
        write_budget(db, plan).await?;
    }
    let users = list_users(db).await?;
    users
        .into_iter()
        .find(|u| u.name == name)
        .ok_or_else(unknown)
}

/// Changes a key's allow-list (`models`: `Some(None)` any model, `None`
/// as it is) and/or its budget; returns it as listed.
pub async fn update_key(
    db: &Db,
    id_or_prefix: &str,
    models: Option<Option<&AllowList>>,
    budget: &BudgetChange,
) -> Result<KeyInfo, IdentityError> {
    if models.is_none() && budget.is_keep() {
        return Err(IdentityError::NothingToChange {
            what: "pass --models GLOBS ('' for any model), --budget AMOUNT or --no-budget",
        });
    }
    let key = find_key(db, id_or_prefix).await?;
    let by_id = key.id.to_string();
    let plan = plan_budget(db, BudgetOwner::Key(&by_id), budget).await?;
    if let Some(list) = models {
        update_key_models(db, &by_id, list).await?;
    }
    write_budget(db, &plan).await?;
    key_by_id(db, key.id)
        .await?
        .ok_or(IdentityError::UnknownKey { key: by_id })
}

/// Replaces a key's allow-list (`None`: any model); returns it as listed.
pub async fn update_key_models(
    db: &Db,
    id_or_prefix: &str,
    models: Option<&AllowList>,
) -> Result<KeyInfo, IdentityError> {
    let key = find_key(db, id_or_prefix).await?;
    let text = models.map(AllowList::to_text);
    on_pool!(db, p => sqlx::query("UPDATE api_keys SET models = $1 WHERE id = $2")
        .bind(&text).bind(key.id).execute(p).await.map(|_| ()))
    .map_err(query_err(format!("updating key {}", key.id)))?;
    key_by_id(db, key.id)
        .await?
        .ok_or_else(|| IdentityError::UnknownKey {
            key: key.id.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_settings() {
        let s = UserSettings::parse(Some("ml"), false, None).expect("ok");
        assert_eq!(s.team, Some(Some("ml".into())));
        assert!(s.models.is_none() && !s.is_empty());
        for (team, no_team) in [(Some(""), false), (None, true)] {
            let s = UserSettings::parse(team, no_team, None).expect("ok");
            assert_eq!(s.team, Some(None));
        }
        let s = UserSettings::parse(None, false, Some("")).expect("ok");
        assert_eq!(s.models, Some(None));
        assert!(
            UserSettings::parse(None, false, None)
                .expect("ok")
                .is_empty()
        );
        assert!(UserSettings::parse(None, false, Some("a,,b")).is_err());
    }
}
