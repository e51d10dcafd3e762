//! Reading the ledger back: one entry by `request_id`, the count, the list
//! of ids. For tests, reports and the future replay of dead letters; the
//! summaries and streams of `tokctl ledger` are not here yet. Writing is
//! [`super::store`]'s.

use sqlx::{Postgres, QueryBuilder, Sqlite};

use super::chain::{Link, hash_from_bytes};
use super::entry::{Entry, TokenSource, Usage};
use super::store::{CHAIN_COLUMNS, COLUMNS, StoreError};
use crate::db::{Backend, Db};

/// How many entries the ledger holds.
pub async fn count(db: &Db) -> Result<u64, StoreError> {
    const SQL: &str = "SELECT count(*) FROM usage_entries";
    let n: i64 = match db {
        Db::Sqlite(p) => sqlx::query_scalar(SQL).fetch_one(p).await,
        Db::Postgres(p) => sqlx::query_scalar(SQL).fetch_one(p).await,
    }
    .map_err(StoreError::query(db, "counting entries"))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Every stored `request_id`, in insertion order.
pub async fn list_request_ids(db: &Db) -> Result<Vec<String>, StoreError> {
    const SQL: &str = "SELECT request_id FROM usage_entries ORDER BY id";
    match db {
        Db::Sqlite(p) => sqlx::query_scalar(SQL).fetch_all(p).await,
        Db::Postgres(p) => sqlx::query_scalar(SQL).fetch_all(p).await,
    }
    .map_err(StoreError::query(db, "listing request ids"))
}

/// One row as stored, before its text columns are checked.
#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    request_id: String,
    created_at_us: i64,
    client_request_id: Option<String>,
    upstream_request_id: Option<String>,
    user_id: Option<i64>,
    user_name: Option<String>,
    api_key_id: Option<i64>,
    endpoint: String,
    model: String,
    provider: String,
    upstream_model: Option<String>,
    input_tokens: i64,
    cached_input_tokens: i64,
    cache_write_tokens: i64,
    output_tokens: i64,
    reasoning_tokens: i64,
    token_source: String,
    cost_nano: i64,
    latency_us: i64,
    upstream_latency_us: Option<i64>,
    ttft_us: Option<i64>,
    overhead_us: Option<i64>,
    status_code: i32,
    streamed: bool,
    error_kind: Option<String>,
    error_message: Option<String>,
    instance_id: Option<String>,
    seq: Option<i64>,
    prev_hash: Option<Vec<u8>>,
    entry_hash: Option<Vec<u8>>,
}

/// The entry stored under `request_id`, if any.
pub async fn get(db: &Db, request_id: &str) -> Result<Option<Entry>, StoreError> {
    let context = format!("reading entry `{request_id}`");
    let row: Option<Row> = match db {
        Db::Sqlite(p) => {
            let mut q = QueryBuilder::<Sqlite>::new(format!(
                "SELECT {COLUMNS}, {CHAIN_COLUMNS} FROM usage_entries"
            ));
            q.push(" WHERE request_id = ").push_bind(request_id);
            q.build_query_as().fetch_optional(p).await
        }
        Db::Postgres(p) => {
            let mut q = QueryBuilder::<Postgres>::new(format!(
                "SELECT {COLUMNS}, {CHAIN_COLUMNS} FROM usage_entries"
            ));
            q.push(" WHERE request_id = ").push_bind(request_id);
            q.build_query_as().fetch_optional(p).await
        }
    }
    .map_err(StoreError::query(db, context))?;
    row.map(|r| r.into_entry(db.backend())).transpose()
}

impl Row {
    pub(crate) fn into_entry(self, backend: Backend) -> Result<Entry, StoreError> {
        let Some(token_source) = TokenSource::parse(&self.token_source) else {
            return Err(StoreError::BadTokenSource {
                request_id: self.request_id,
                backend,
                value: self.token_source,
            });
        };
        let chain = match (self.instance_id, self.seq, self.prev_hash, self.entry_hash) {
            (Some(instance_id), Some(seq), Some(prev), Some(hash)) => Some(Link {
                instance_id,
                seq,
                prev_hash: hash_from_bytes(&prev).unwrap_or_default(),
                hash: hash_from_bytes(&hash).unwrap_or_default(),
            }),
            _ => None,
        };
        Ok(Entry {
            request_id: self.request_id,
            created_at_us: self.created_at_us,
            client_request_id: self.client_request_id,
            upstream_request_id: self.upstream_request_id,
            user_id: self.user_id,
            user_name: self.user_name,
            api_key_id: self.api_key_id,
            endpoint: self.endpoint,
            model: self.model,
            provider: self.provider,
            upstream_model: self.upstream_model,
            usage: Usage {
                input_tokens: self.input_tokens,
                cached_input_tokens: self.cached_input_tokens,
                cache_write_tokens: self.cache_write_tokens,
                output_tokens: self.output_tokens,
                reasoning_tokens: self.reasoning_tokens,
            },
            token_source,
            cost_nano: self.cost_nano,
            latency_us: self.latency_us,
            upstream_latency_us: self.upstream_latency_us,
            ttft_us: self.ttft_us,
            overhead_us: self.overhead_us,
            status_code: self.status_code,
            streamed: self.streamed,
            error_kind: self.error_kind,
            error_message: self.error_message,
            chain,
        })
    }
}
