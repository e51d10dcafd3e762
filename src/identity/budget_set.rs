//! Setting and clearing the budget of a key, a user or a team (#34): the
//! `--budget`, `--budget-window`, `--budget-soft` and `--no-budget` flags
//! as one [`BudgetChange`], checked before any database is touched, and
//! [`set_budget`], which the CLI and the admin API call. Changes reach
//! gateways within `auth.cache_ttl_ms`, like any identity change.

use super::IdentityError;
use super::budgets::{BudgetColumns, DEFAULT_WINDOW, parse_amount, parse_soft, parse_window};
use super::store::{find_key, query_err};
use crate::db::{Db, on_pool};

/// What to do with a budget. Fields left `None` keep what is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BudgetChange {
    /// No budget flag given.
    #[default]
    Keep,
    /// `--no-budget`.
    Clear,
    Set {
        limit_nano: Option<i64>,
        /// Normalised ([`parse_window`]).
        window: Option<String>,
        /// `Some(None)` removes the soft threshold (`--budget-soft ''`).
        soft_percent: Option<Option<u8>>,
    },
}

/// Whose budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetOwner<'a> {
    /// By id, display prefix or full key.
    Key(&'a str),
    /// By name.
    User(&'a str),
    /// By name.
    Team(&'a str),
}

impl BudgetChange {
    /// The flags as given. On create (`creating`), `--budget-window` and
    /// `--budget-soft` need `--budget`; on update they change the budget
    /// already set.
    pub fn parse(
        budget: Option<&str>,
        window: Option<&str>,
        soft: Option<&str>,
        clear: bool,
        creating: bool,
    ) -> Result<BudgetChange, IdentityError> {
        if clear {
            return Ok(BudgetChange::Clear);
        }
        if budget.is_none() && creating {
            let given = window
                .map(|w| ("--budget-window", w))
                .or(soft.map(|s| ("--budget-soft", s)));
            if let Some((flag, value)) = given {
                return Err(IdentityError::InvalidBudget {
                    flag,
                    value: value.to_string(),
                    reason: "it needs a budget: add --budget AMOUNT \
                             (e.g. --budget 50 --budget-window monthly --budget-soft 80)"
                        .into(),
                });
            }
        }
        let change = BudgetChange::Set {
            limit_nano: budget.map(parse_amount).transpose()?,
            window: window.map(parse_window).transpose()?,
            soft_percent: soft.map(parse_soft).transpose()?,
        };
        Ok(match change {
            BudgetChange::Set {
                limit_nano: None,
                window: None,
                soft_percent: None,
            } => BudgetChange::Keep,
            c => c,
        })
    }

    /// The columns of something created with these flags (none when no
    /// budget is given; [`BudgetChange::parse`] refused a window or soft
    /// threshold without one).
    pub fn for_new(&self, now_us: i64) -> BudgetColumns {
        self.apply(&BudgetColumns::default(), now_us)
            .unwrap_or_default()
    }

    pub fn is_keep(&self) -> bool {
        *self == BudgetChange::Keep
    }

    /// The columns after this change to `current` at `now_us`; `None` when
    /// it changes the window or the soft threshold of a budget that is not
    /// set. The anchor moves to `now_us` (down to the whole second) whenever
    /// the limit or the window is given, so a duration window starts
    /// afresh; whole seconds, so that its resets fall on the seconds the
    /// `x-tokctl-budget-reset` header (RFC 3339, seconds) can name exactly.
    pub fn apply(&self, current: &BudgetColumns, now_us: i64) -> Option<BudgetColumns> {
        let now_us = now_us - now_us.rem_euclid(1_000_000);
        match self {
            BudgetChange::Keep => Some(current.clone()),
            BudgetChange::Clear => Some(BudgetColumns::default()),
            BudgetChange::Set {
                limit_nano,
                window,
                soft_percent,
            } => {
                let nano = limit_nano.or(current.budget_nano)?;
                let restart = limit_nano.is_some() || window.is_some();
                Some(BudgetColumns {
                    budget_nano: Some(nano),
                    budget_window: window
                        .clone()
                        .or_else(|| current.budget_window.clone())
                        .or_else(|| Some(DEFAULT_WINDOW.into())),
                    budget_soft_percent: match soft_percent {
                        Some(p) => p.map(i32::from),
                        None => current.budget_soft_percent,
                    },
                    budget_anchor_us: if restart {
                        Some(now_us)
                    } else {
                        current.budget_anchor_us.or(Some(now_us))
                    },
                })
            }
        }
    }
}

/// The id and budget columns of the user or team named `$1`.
macro_rules! owner_select {
    ($table:literal) => {
        concat!(
            "SELECT id, budget_nano, budget_window, budget_soft_percent, budget_anchor_us FROM ",
            $table,
            " WHERE name = $1"
        )
    };
}

/// The table, id, a label for messages, and the stored columns of `owner`.
async fn current(
    db: &Db,
    owner: BudgetOwner<'_>,
) -> Result<(&'static str, i64, String, BudgetColumns), IdentityError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: i64,
        #[sqlx(flatten)]
        cols: BudgetColumns,
    }
    let (table, name, sql) = match owner {
        BudgetOwner::Key(k) => {
            let key = find_key(db, k).await?;
            return Ok(("api_keys", key.id, format!("key {}", key.id), key.budget));
        }
        BudgetOwner::User(name) => ("users", name, owner_select!("users")),
        BudgetOwner::Team(name) => ("teams", name, owner_select!("teams")),
    };
    let label = format!("{} `{name}`", &table[..table.len() - 1]);
    let row: Option<Row> =
        on_pool!(db, p => sqlx::query_as(sql).bind(name).fetch_optional(p).await)
            .map_err(query_err(format!("reading the budget of {label}")))?;
    match (row, owner) {
        (Some(r), _) => Ok((table, r.id, label, r.cols)),
        (None, BudgetOwner::Team(_)) => Err(IdentityError::UnknownTeam { name: name.into() }),
        (None, _) => Err(IdentityError::UnknownUser { name: name.into() }),
    }
}

/// A budget change checked against what is stored, ready to write: so a
/// command that changes more than the budget can check everything before
/// it writes anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBudget {
    table: &'static str,
    id: i64,
    label: String,
    /// The columns as they will be.
    pub columns: BudgetColumns,
    changed: bool,
}

/// Reads the budget of `owner` and applies `change` to it in memory; an
/// unknown owner is an error naming it, and changing the window or the
/// soft threshold of an owner without a budget is
/// [`IdentityError::NoBudget`].
pub async fn plan_budget(
    db: &Db,
    owner: BudgetOwner<'_>,
    change: &BudgetChange,
) -> Result<PlannedBudget, IdentityError> {
    let (table, id, label, now) = current(db, owner).await?;
    let Some(columns) = change.apply(&now, crate::db::now_us()) else {
        return Err(IdentityError::NoBudget { owner: label });
    };
    Ok(PlannedBudget {
        table,
        id,
        label,
        changed: columns != now,
        columns,
    })
}

/// Writes a planned change (by id: a rename in between does not matter).
pub async fn write_budget(db: &Db, plan: &PlannedBudget) -> Result<(), IdentityError> {
    if !plan.changed {
        return Ok(());
    }
    let (table, new) = (plan.table, &plan.columns);
    let sql = format!(
        "UPDATE {table} SET budget_nano = $1, budget_window = $2, \
         budget_soft_percent = $3, budget_anchor_us = $4 WHERE id = $5"
    );
    on_pool!(db, p => sqlx::query(&sql)
        .bind(new.budget_nano).bind(&new.budget_window).bind(new.budget_soft_percent)
        .bind(new.budget_anchor_us).bind(plan.id).execute(p).await.map(|_| ()))
    .map_err(query_err(format!("setting the budget of {}", plan.label)))
}

/// Applies `change` to the budget of `owner` ([`plan_budget`], then
/// [`write_budget`]); returns the columns as they are now.
pub async fn set_budget(
    db: &Db,
    owner: BudgetOwner<'_>,
    change: &BudgetChange,
) -> Result<BudgetColumns, IdentityError> {
    let plan = plan_budget(db, owner, change).await?;
    write_budget(db, &plan).await?;
    Ok(plan.columns)
}
