//! A controllable OpenAI-compatible upstream for the routing tests (its
//! answer, delay and failure switched while it runs, every request it got
//! counted with its time), and the routing columns of the ledger read back.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use sqlx::Row;
use tokctl::db::{Db, Dsn, PoolSettings};

/// What a [`Switch`] upstream does with the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A chat completion, after the delay.
    Answer,
    /// This status with an OpenAI error body.
    Status(u16),
    /// 429 with `Retry-After: secs`.
    RateLimited(u64),
    /// 400 `context_length_exceeded`, as OpenAI says a prompt is too long.
    TooLong,
}

#[derive(Clone)]
pub struct Switch {
    pub mode: Arc<Mutex<Mode>>,
    pub delay_ms: Arc<AtomicU64>,
    pub count: Arc<AtomicUsize>,
    /// When each request arrived.
    pub times: Arc<Mutex<Vec<Instant>>>,
}

impl Switch {
    pub fn new(mode: Mode) -> Switch {
        Switch {
            mode: Arc::new(Mutex::new(mode)),
            delay_ms: Arc::default(),
            count: Arc::default(),
            times: Arc::default(),
        }
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Starts it on `addr` (`127.0.0.1:0`, or a port found free before);
    /// returns the base URL (…/v1).
    pub async fn start_at(&self, addr: &str) -> String {
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}/v1")
    }

    pub async fn start(&self) -> String {
        self.start_at("127.0.0.1:0").await
    }
}

async fn chat(State(s): State<Switch>, body: axum::body::Bytes) -> Response {
    s.count.fetch_add(1, Ordering::SeqCst);
    s.times.lock().expect("lock").push(Instant::now());
    let mode = *s.mode.lock().expect("lock");
    let error = |status: u16, code: &str| {
        let body = format!(
            "{{\"error\":{{\"message\":\"{code}\",\"type\":\"x\",\"param\":null,\"code\":\"{code}\"}}}}"
        );
        let status = axum::http::StatusCode::from_u16(status).expect("status");
        (status, [("content-type", "application/json")], body).into_response()
    };
    match mode {
        Mode::Status(code) => return error(code, "upstream_says_no"),
        Mode::RateLimited(secs) => {
            let mut r = error(429, "rate_limit_exceeded");
            r.headers_mut()
                .insert("retry-after", secs.to_string().parse().expect("value"));
            return r;
        }
        Mode::TooLong => return error(400, "context_length_exceeded"),
        Mode::Answer => {}
    }
    let delay = s.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let model = v["model"].as_str().unwrap_or("");
    let b = serde_json::json!({
        "id": "c1", "object": "chat.completion", "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5},
    });
    ([("content-type", "application/json")], b.to_string()).into_response()
}

/// The routing columns of one ledger row.
#[derive(Debug, Clone)]
pub struct RouteRow {
    pub status_code: i64,
    pub model: String,
    pub requested_model: Option<String>,
    pub provider: String,
    pub upstream_model: Option<String>,
    pub attempts: i64,
    pub failed_attempts: Option<String>,
    pub error_kind: Option<String>,
    pub cost_nano: i64,
    pub streamed: bool,
}

const SQL: &str = "SELECT CAST(status_code AS BIGINT), model, requested_model, provider, \
    upstream_model, CAST(attempts AS BIGINT), failed_attempts, error_kind, cost_nano, streamed \
    FROM usage_entries ORDER BY request_id";

pub async fn route_rows(dsn: &str) -> Vec<RouteRow> {
    let dsn = Dsn::parse(dsn).expect("dsn");
    let settings = PoolSettings {
        max_open: 2,
        max_idle: 0,
        max_lifetime: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        connect_timeout: Duration::from_secs(5),
        busy_timeout: Duration::from_secs(5),
    };
    let db = Db::connect(&dsn, &settings, "test").await.expect("connect");
    macro_rules! map {
        ($rows:expr) => {
            $rows
                .iter()
                .map(|r| RouteRow {
                    status_code: r.get(0),
                    model: r.get(1),
                    requested_model: r.get(2),
                    provider: r.get(3),
                    upstream_model: r.get(4),
                    attempts: r.get(5),
                    failed_attempts: r.get(6),
                    error_kind: r.get(7),
                    cost_nano: r.get(8),
                    streamed: r.get(9),
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
