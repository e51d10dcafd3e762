//! Reading usage rows back from the ledger database, straight with SQL, so
//! tests check what was really stored.

use sqlx::Row;
use tokctl::db::{Db, Dsn, PoolSettings};

/// The columns tests look at.
#[derive(Debug, Clone)]
pub struct Row_ {
    pub request_id: String,
    pub client_request_id: Option<String>,
    pub upstream_request_id: Option<String>,
    pub user_name: Option<String>,
    pub model: String,
    pub status_code: i64,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_write_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    pub token_source: String,
    pub cost_nano: i64,
    pub streamed: bool,
    pub error_kind: Option<String>,
    pub overhead_us: Option<i64>,
}

const SQL: &str = "SELECT request_id, client_request_id, upstream_request_id, user_name, model, \
    CAST(status_code AS BIGINT), input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, \
    token_source, cost_nano, streamed, error_kind, overhead_us, cache_write_tokens \
    FROM usage_entries ORDER BY request_id";

pub async fn rows(dsn: &str) -> Vec<Row_> {
    let dsn = Dsn::parse(dsn).expect("dsn");
    let settings = PoolSettings {
        max_open: 2,
        max_idle: 0,
        max_lifetime: std::time::Duration::from_secs(60),
        idle_timeout: std::time::Duration::from_secs(60),
        connect_timeout: std::time::Duration::from_secs(5),
        busy_timeout: std::time::Duration::from_secs(5),
    };
    let db = Db::connect(&dsn, &settings, "test").await.expect("connect");
    macro_rules! map {
        ($rows:expr) => {
            $rows
                .iter()
                .map(|r| Row_ {
                    request_id: r.get(0),
                    client_request_id: r.get(1),
                    upstream_request_id: r.get(2),
                    user_name: r.get(3),
                    model: r.get(4),
                    status_code: r.get(5),
                    input_tokens: r.get(6),
                    cached_input_tokens: r.get(7),
                    output_tokens: r.get(8),
                    reasoning_tokens: r.get(9),
                    token_source: r.get(10),
                    cost_nano: r.get(11),
                    streamed: r.get(12),
                    error_kind: r.get(13),
                    overhead_us: r.get(14),
                    cache_write_tokens: r.get(15),
                })
                .collect::<Vec<_>>()
        };
    }
    let out = match &db {
        Db::Sqlite(p) => map!(sqlx::query(SQL).fetch_all(p).await.expect("query")),
        Db::Postgres(p) => map!(sqlx::query(SQL).fetch_all(p).await.expect("query")),
    };
    db.close().await;
    out
}
