//! Teams (#34): named groups of users. A user belongs to at most one team
//! (`users.team_id`); the gateway stamps each ledger entry with the team
//! of its user at request time, and a team may carry a model allow-list
//! that applies to all of its members ([`super::access`]).
//!
//! The operations the CLI (`tokctl teams …`) calls, and the admin API
//! will: create, list, show, update (rename, allow-list), delete. Deleting
//! a team with members is refused unless forced, which detaches them in
//! the same transaction; ledger rows keep the deleted team's id (ids are
//! never reused). Membership itself is changed in [`super::update`].

use std::collections::HashMap;

use sqlx::FromRow;

use super::IdentityError;
use super::access::AllowList;
use super::budget_set::{BudgetChange, BudgetOwner, plan_budget, write_budget};
use super::budgets::BudgetColumns;
use super::records::check_team_name;
use super::store::{is_unique_violation, query_err};
use crate::db::{Db, now_us, on_pool};

/// One line of `tokctl teams list`.
#[derive(Debug, Clone, PartialEq, FromRow, serde::Serialize)]
pub struct TeamInfo {
    pub id: i64,
    pub name: String,
    /// The allow-list (comma-separated globs; `None`: no restriction).
    pub models: Option<String>,
    pub created_at_us: i64,
    /// Users in the team.
    pub members: i64,
    /// The team's budget (`budget_*`; all `None`: none).
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub budget: BudgetColumns,
}

/// `tokctl teams show`: the team and its members' names.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TeamDetail {
    #[serde(flatten)]
    pub team: TeamInfo,
    pub member_names: Vec<String>,
}

/// What `update_team` changes; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TeamChange {
    pub rename: Option<String>,
    /// `Some(None)` clears the list (any model).
    pub models: Option<Option<AllowList>>,
    /// The budget flags ([`BudgetChange::parse`]).
    pub budget: BudgetChange,
}

/// What [`delete_team`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedTeam {
    pub id: i64,
    /// Members left without a team (only with `force`).
    pub detached: Vec<String>,
}

macro_rules! team_select {
    () => {
        "SELECT t.id, t.name, t.models, t.created_at_us, t.budget_nano, t.budget_window, \
         t.budget_soft_percent, t.budget_anchor_us, \
         (SELECT count(*) FROM users u WHERE u.team_id = t.id) AS members FROM teams t"
    };
}

/// Creates a team; a taken name is [`IdentityError::TeamExists`].
/// `budget` is the change of the budget flags on create.
pub async fn create_team(
    db: &Db,
    name: &str,
    models: Option<&AllowList>,
    budget: &BudgetChange,
) -> Result<i64, IdentityError> {
    check_team_name(name)?;
    const SQL: &str = "INSERT INTO teams (name, models, created_at_us, budget_nano, \
        budget_window, budget_soft_percent, budget_anchor_us) \
        VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
    let models = models.map(AllowList::to_text);
    let now = now_us();
    let b = budget.for_new(now);
    let res: Result<i64, sqlx::Error> = on_pool!(db, p => sqlx::query_scalar(SQL)
        .bind(name).bind(&models).bind(now).bind(b.budget_nano).bind(&b.budget_window)
        .bind(b.budget_soft_percent).bind(b.budget_anchor_us).fetch_one(p).await);
    res.map_err(|e| match e {
        e if is_unique_violation(&e) => IdentityError::TeamExists {
            name: name.to_string(),
        },
        e => query_err(format!("creating team `{name}`"))(e),
    })
}

/// Every team in creation order, with its member count.
pub async fn list_teams(db: &Db) -> Result<Vec<TeamInfo>, IdentityError> {
    const SQL: &str = concat!(team_select!(), " ORDER BY t.id");
    on_pool!(db, p => sqlx::query_as(SQL).fetch_all(p).await).map_err(query_err("listing teams"))
}

async fn find_team(db: &Db, name: &str) -> Result<TeamInfo, IdentityError> {
    const SQL: &str = concat!(team_select!(), " WHERE t.name = $1");
    let found: Option<TeamInfo> =
        on_pool!(db, p => sqlx::query_as(SQL).bind(name).fetch_optional(p).await)
            .map_err(query_err(format!("looking up team `{name}`")))?;
    found.ok_or_else(|| IdentityError::UnknownTeam {
        name: name.to_string(),
    })
}

/// The id of the team named `name` ([`IdentityError::UnknownTeam`] if none).
pub async fn team_id(db: &Db, name: &str) -> Result<i64, IdentityError> {
    Ok(find_team(db, name).await?.id)
}

async fn member_names(db: &Db, team_id: i64) -> Result<Vec<String>, IdentityError> {
    const SQL: &str = "SELECT name FROM users WHERE team_id = $1 ORDER BY name";
    on_pool!(db, p => sqlx::query_scalar(SQL).bind(team_id).fetch_all(p).await)
        .map_err(query_err(format!("listing the members of team {team_id}")))
}

/// A team and its members.
pub async fn show_team(db: &Db, name: &str) -> Result<TeamDetail, IdentityError> {
    let team = find_team(db, name).await?;
    let member_names = member_names(db, team.id).await?;
    Ok(TeamDetail { team, member_names })
}

/// Renames a team, replaces its allow-list and/or changes its budget;
/// returns it as it is now.
/// Members follow a rename (they hold the id); the gateway sees a new list
/// within `auth.cache_ttl_ms`.
pub async fn update_team(
    db: &Db,
    name: &str,
    change: &TeamChange,
) -> Result<TeamInfo, IdentityError> {
    if change.rename.is_none() && change.models.is_none() && change.budget.is_keep() {
        return Err(IdentityError::NothingToChange {
            what: "pass --rename NEW, --models LIST, --budget AMOUNT or --no-budget",
        });
    }
    if let Some(new) = &change.rename {
        check_team_name(new)?;
    }
    let team = find_team(db, name).await?;
    // Checked before anything is written (a window change needs a budget).
    let budget = plan_budget(db, BudgetOwner::Team(name), &change.budget).await?;
    const SQL: &str = "UPDATE teams SET name = COALESCE($1, name), \
        models = CASE WHEN $2 THEN $3 ELSE models END WHERE id = $4";
    let models = change
        .models
        .as_ref()
        .map(|m| m.as_ref().map(AllowList::to_text));
    let res = on_pool!(db, p => sqlx::query(SQL)
        .bind(&change.rename).bind(models.is_some()).bind(models.flatten()).bind(team.id)
        .execute(p).await.map(|_| ()));
    res.map_err(|e| match (&change.rename, e) {
        (Some(new), e) if is_unique_violation(&e) => {
            IdentityError::TeamExists { name: new.clone() }
        }
        (_, e) => query_err(format!("updating team `{name}`"))(e),
    })?;
    write_budget(db, &budget).await?;
    find_team(db, change.rename.as_deref().unwrap_or(name)).await
}

/// Deletes a team. With members it is refused
/// ([`IdentityError::TeamHasMembers`], naming them) unless `force`, which
/// leaves them without a team in the same transaction.
pub async fn delete_team(db: &Db, name: &str, force: bool) -> Result<DeletedTeam, IdentityError> {
    let team = find_team(db, name).await?;
    let members = member_names(db, team.id).await?;
    if !members.is_empty() && !force {
        return Err(IdentityError::TeamHasMembers {
            name: name.to_string(),
            members: members.len(),
            names: members.join(", "),
        });
    }
    let ctx = format!("deleting team `{name}`");
    on_pool!(db, p => {
        let mut tx = p.begin().await.map_err(query_err(ctx.clone()))?;
        sqlx::query("UPDATE users SET team_id = NULL WHERE team_id = $1")
            .bind(team.id).execute(&mut *tx).await.map_err(query_err(ctx.clone()))?;
        sqlx::query("DELETE FROM teams WHERE id = $1")
            .bind(team.id).execute(&mut *tx).await.map_err(query_err(ctx.clone()))?;
        tx.commit().await.map_err(query_err(ctx.clone()))?;
    });
    Ok(DeletedTeam {
        id: team.id,
        detached: members,
    })
}

/// Every team's name by id, for showing the ledger's `team_id`.
pub async fn team_names(db: &Db) -> Result<HashMap<i64, String>, IdentityError> {
    let rows: Vec<(i64, String)> =
        on_pool!(db, p => sqlx::query_as("SELECT id, name FROM teams").fetch_all(p).await)
            .map_err(query_err("reading team names"))?;
    Ok(rows.into_iter().collect())
}
