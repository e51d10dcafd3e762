//! What a budget scope spent since a moment, read from `spend_rollups`.
//!
//! Each batch's entries are added to their key's, user's and team's hour
//! in the batch's own transaction (PostgreSQL: migration 0008's statement
//! trigger; SQLite: the store, `ledger::store`), so the rollups never
//! disagree with the entries and a rollback takes both back. A window's spend is then the whole
//! hours from the rollups plus, when the window does not start on the
//! hour, the entries of its first partial hour — at most an hour of one
//! scope's rows, never the window's.

use crate::budget::Scope;
use crate::db::{Db, on_pool};

/// One hour in microseconds: the rollups' granularity.
pub const HOUR_US: i64 = 3_600_000_000;

/// The code `spend_rollups.scope` stores for a scope.
pub fn scope_code(s: Scope) -> i64 {
    match s {
        Scope::Key => 1,
        Scope::User => 2,
        Scope::Team => 3,
    }
}

/// The entries' column holding a scope's id. A constant spliced into SQL.
fn entry_column(s: Scope) -> &'static str {
    match s {
        Scope::Key => "api_key_id",
        Scope::User => "user_id",
        Scope::Team => "team_id",
    }
}

/// The first hour boundary at or after `us`.
pub fn hour_ceil(us: i64) -> i64 {
    us.div_euclid(HOUR_US) * HOUR_US
        + if us.rem_euclid(HOUR_US) == 0 {
            0
        } else {
            HOUR_US
        }
}

/// Cost (nano-units) and requests of `scope` `id` from `since_us` on: every
/// entry stored so far, the current hour included.
pub async fn spent_since(
    db: &Db,
    scope: Scope,
    id: i64,
    since_us: i64,
) -> Result<(i64, i64), sqlx::Error> {
    let whole_from = hour_ceil(since_us);
    let rollups = "SELECT CAST(COALESCE(SUM(cost_nano), 0) AS BIGINT), \
                   CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM spend_rollups \
                   WHERE scope = $1 AND scope_id = $2 AND hour_us >= $3";
    let code = scope_code(scope);
    let (cost, n): (i64, i64) = on_pool!(db, p => {
        sqlx::query_as(rollups)
            .bind(code)
            .bind(id)
            .bind(whole_from)
            .fetch_one(p)
            .await?
    });
    if whole_from == since_us {
        return Ok((cost, n));
    }
    let edge = format!(
        "SELECT CAST(COALESCE(SUM(cost_nano), 0) AS BIGINT), CAST(COUNT(*) AS BIGINT) \
         FROM usage_entries WHERE {} = $1 AND created_at_us >= $2 AND created_at_us < $3",
        entry_column(scope)
    );
    let (edge_cost, edge_n): (i64, i64) = on_pool!(db, p => {
        sqlx::query_as(&edge)
            .bind(id)
            .bind(since_us)
            .bind(whole_from)
            .fetch_one(p)
            .await?
    });
    Ok((cost + edge_cost, n + edge_n))
}
