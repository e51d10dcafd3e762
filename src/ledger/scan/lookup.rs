//! Single entries read back: one entry by `request_id`, the count, the list
//! of ids. For tests, reports and the replay of dead letters; streams of
//! rows are [`super::Scan`]'s. Writing is [`crate::ledger::store`]'s.

use crate::db::{Db, on_pool};
use crate::ledger::columns::{self, Decode};
use crate::ledger::entry::Entry;
use crate::ledger::store::StoreError;

/// How many entries the ledger holds.
pub async fn count(db: &Db) -> Result<u64, StoreError> {
    const SQL: &str = "SELECT count(*) FROM usage_entries";
    let n: i64 = on_pool!(db, p => sqlx::query_scalar(SQL).fetch_one(p).await)
        .map_err(StoreError::query(db, "counting entries"))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Every stored `request_id`, in insertion order.
pub async fn list_request_ids(db: &Db) -> Result<Vec<String>, StoreError> {
    const SQL: &str = "SELECT request_id FROM usage_entries ORDER BY id";
    on_pool!(db, p => sqlx::query_scalar(SQL).fetch_all(p).await)
        .map_err(StoreError::query(db, "listing request ids"))
}

/// The entry stored under `request_id`, if any.
pub async fn get(db: &Db, request_id: &str) -> Result<Option<Entry>, StoreError> {
    let context = format!("reading entry `{request_id}`");
    let sql = format!(
        "SELECT {} FROM usage_entries WHERE request_id = $1",
        columns::list()
    );
    let bad = |source| StoreError::BadValue {
        backend: db.backend(),
        source,
    };
    let entry = on_pool!(db, p => match sqlx::query(&sql).bind(request_id).fetch_optional(p).await {
        Ok(Some(row)) => Some(row.ledger_row().map(|r| r.to_entry())),
        Ok(None) => None,
        Err(e) => Some(Err(e)),
    });
    match entry {
        None => Ok(None),
        Some(Ok(entry)) => entry.map(Some).map_err(bad),
        Some(Err(e)) => Err(StoreError::query(db, context)(e)),
    }
}
