//! The gateway: axum router, middleware stack, handlers.
//!
//! Handlers do almost nothing themselves: every `/v1` handler passes auth,
//! model access and the rate limits ([`guarded`]), then runs [`relay::process`] and
//! waits for its answer; the process carries on detached from the
//! connection if the client goes ([`detach`]). `/health` and
//! `/metrics` stay public. Auth and limits are plain steps of the handler,
//! not `from_fn` layers: each such layer cost a clone of the boxed route
//! and a boxed future per request.

mod access;
mod admit;
mod affinity;
mod attempts;
mod auth;
pub mod body;
mod conn;
mod count_tokens;
mod detach;
pub mod error;
pub mod health;
mod layers;
mod limit;
mod outcome;
mod record;
pub mod relay;
pub mod request;
pub mod routes;
pub mod routing;
pub mod server;
mod spend;
mod stamp;
mod startup;
mod stream;
mod translation;
mod translation_responses;
mod unread;
mod whole;
mod workers;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::identity::{Authenticator, Principal};
use crate::ledger::LedgerWriter;
use crate::providers::Endpoint;
use error::ApiError;
use relay::RequestCtx;
use routes::Routes;

/// Everything a request needs, shared by all of them. Held in an `Arc`
/// ([`AppState`]) so that the per-request clones axum makes are one atomic
/// increment each, not a clone of every field.
pub struct App {
    pub config: Arc<Config>,
    pub routes: Arc<Routes>,
    /// `None` when `auth.enabled = false`.
    pub auth: Option<Authenticator>,
    pub ledger: LedgerWriter,
    /// `None` when `rate_limit.enabled = false`.
    pub limiter: Option<crate::ratelimit::RateLimiter>,
    /// Detached request tasks, awaited at shutdown.
    pub tracker: TaskTracker,
    /// Cancelled when the shutdown deadline passes: streams end and record.
    pub shutdown: CancellationToken,
    /// Metrics and health; requests are recorded in [`relay`].
    pub telemetry: Arc<crate::telemetry::Telemetry>,
    /// This worker's own share of the request metrics (`None` with
    /// metrics off), so that workers never write the same counters.
    pub metrics_shard: Option<Arc<crate::telemetry::metrics::Shard>>,
}

/// The shared state handed to handlers and layers.
pub type AppState = Arc<App>;

/// When the request arrived (set by the outermost layer), so overhead
/// includes the middleware.
#[derive(Debug, Clone, Copy)]
pub struct RequestStart(pub Instant);

/// On a response whose access line the relay writes itself (with the
/// entry's tokens and overhead); the outermost layer writes one for every
/// other response (the model list, refusals, unknown routes).
#[derive(Debug, Clone, Copy)]
pub struct AccessLogged;

/// The client's own `x-request-id`, kept apart from the gateway's.
#[derive(Debug, Clone)]
pub struct ClientRequestId(pub String);

/// The router with its whole middleware stack.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .route("/v1/responses", post(responses))
        .route(
            "/v1/responses/{id}",
            get(stored_response).delete(stored_response),
        )
        .route("/v1/responses/{id}/input_items", get(stored_response))
        .route("/v1/responses/{id}/cancel", post(stored_response))
        .route("/v1/models", get(models));
    let app = Router::new()
        .merge(v1)
        .route("/livez", get(|| async { "ok" }))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone())
        .merge(
            crate::telemetry::endpoints::router(
                state.telemetry.clone(),
                crate::telemetry::metrics_place(&state.config)
                    == crate::telemetry::MetricsPlace::MainPort,
            )
            .layer(layers::timeout(&state.config)),
        );
    layers::apply(app, &state.config)
}

/// What a `/v1` route answers once auth and limits let a request through.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Proxied upstream and recorded in the ledger.
    Proxy(Endpoint),
    /// The model list, answered here.
    Models,
    /// A token count: the Anthropic upstream's, or estimated here.
    CountTokens,
    /// A stored response asked for: the gateway keeps none (404).
    StoredResponse,
}

async fn chat_completions(State(s): State<AppState>, req: Request) -> Response {
    guarded(s, Target::Proxy(Endpoint::ChatCompletions), req).await
}

async fn embeddings(State(s): State<AppState>, req: Request) -> Response {
    guarded(s, Target::Proxy(Endpoint::Embeddings), req).await
}

async fn messages(State(s): State<AppState>, req: Request) -> Response {
    guarded(s, Target::Proxy(Endpoint::Messages), req).await
}

async fn responses(State(s): State<AppState>, req: Request) -> Response {
    guarded(s, Target::Proxy(Endpoint::Responses), req).await
}

async fn stored_response(State(s): State<AppState>, req: Request) -> Response {
    guarded(s, Target::StoredResponse, req).await
}

async fn count_tokens(State(s): State<AppState>, req: Request) -> Response {
    guarded(s, Target::CountTokens, req).await
}

async fn models(State(s): State<AppState>, req: Request) -> Response {
    guarded(s, Target::Models, req).await
}

/// Auth, then model access, then the rate limits, then the target; the limits' headers go on
/// whatever answer comes back.
async fn guarded(state: AppState, target: Target, req: Request) -> Response {
    let principal = match auth::admit(&state, req.headers(), req.uri().path()).await {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    // Model access before the limits, so a refusal reserves nothing.
    let req = match target {
        Target::Proxy(_) | Target::CountTokens => {
            match access::check(&state, principal.as_ref(), req).await {
                Ok(req) => req,
                Err(refused) => return refused,
            }
        }
        Target::Models | Target::StoredResponse => req,
    };
    let charge = matches!(target, Target::Proxy(_));
    let (req, admitted) = match limit::check(&state, principal.as_ref(), req, charge).await {
        Ok(pair) => pair,
        Err(refused) => return refused,
    };
    let limit::Admitted { verdict, ticket } = admitted;
    let budget_headers = ticket.as_ref().and_then(|t| t.tightest);
    let mut resp = match target {
        Target::Proxy(endpoint) => {
            let reservation = verdict.as_ref().and_then(|v| v.reserved_tokens);
            proxy(state, endpoint, req, principal, reservation, ticket).await
        }
        // Anthropic's SDK lists models with its version header.
        Target::Models => {
            let anthropic = req.headers().contains_key("anthropic-version");
            access::models_list(&state, principal.as_ref(), anthropic)
        }
        Target::CountTokens => count_tokens::answer(state, req).await,
        Target::StoredResponse => ApiError::new(
            StatusCode::NOT_FOUND,
            "response_not_stored",
            "the gateway keeps no responses: POST /v1/responses answers with `store: false` and \
             nothing can be retrieved, listed, cancelled or deleted afterwards; keep the answer \
             you got, and send earlier turns again in `input`",
        )
        .into_response(),
    };
    if let Some(v) = &verdict {
        limit::headers(&mut resp, v);
    }
    if let Some(tightest) = budget_headers
        && resp.status().is_success()
    {
        spend::headers(&mut resp, tightest);
    }
    resp
}

async fn not_found(req: Request) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_route",
        format!(
            "no route for {} {}; the gateway serves POST /v1/chat/completions, POST /v1/embeddings, POST /v1/messages, POST /v1/messages/count_tokens, POST /v1/responses and GET /v1/models",
            req.method(),
            req.uri().path()
        ),
    )
    .into_response()
}

/// A known path with the wrong method (e.g. `GET /v1/chat/completions`):
/// 405 in the OpenAI shape, saying which method the path takes.
async fn method_not_allowed(req: Request) -> Response {
    let path = req.uri().path();
    let posts = [
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/v1/responses",
    ];
    let allowed = if posts.contains(&path) { "POST" } else { "GET" };
    let mut resp = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {path}; use {allowed}", req.method()),
    )
    .into_response();
    resp.headers_mut().insert(
        axum::http::header::ALLOW,
        axum::http::HeaderValue::from_static(allowed),
    );
    resp
}

/// Runs the request's work (detached from the connection if the client
/// goes, see [`detach`]) and waits for the response it produces.
async fn proxy(
    state: AppState,
    endpoint: Endpoint,
    req: Request,
    principal: Option<Principal>,
    reservation: Option<crate::ratelimit::TokenReservation>,
    ticket: Option<crate::ratelimit::Ticket>,
) -> Response {
    let (mut parts, body): (_, Body) = req.into_parts();
    // Read already by the tokens-per-minute limit's estimate, or not yet.
    let body = match parts.extensions.remove::<body::PreRead>() {
        Some(read) => body::RequestBody::Read(read.0),
        None => body::RequestBody::Unread(body),
    };
    let start = parts
        .extensions
        .get::<RequestStart>()
        .map_or_else(Instant::now, |s| s.0);
    let request_id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let ctx = RequestCtx {
        endpoint,
        request_id,
        client_request_id: parts
            .extensions
            .get::<ClientRequestId>()
            .map(|c| c.0.clone()),
        principal,
        reservation,
        ticket,
        start,
        created_at_us: crate::db::now_us(),
        headers: parts.headers,
        timed_out: Arc::default(),
    };
    let timed_out = ctx.timed_out.clone();
    let limit = Duration::from_millis(state.config.server.request_timeout_ms);
    let (tx, mut rx) = oneshot::channel();
    // Tracked from the start, so shutdown waits for it wherever it runs.
    let work = state
        .tracker
        .track_future(relay::process(state.clone(), ctx, body, tx));
    let deadline = tokio::time::Instant::from_std(start) + limit;
    // The head timeout lives here, not only in a layer: the work goes on
    // detached (the upstream may still bill for it) and records a 504, the
    // answer the client got, in the endpoint's error shape.
    let answer = match tokio::time::timeout_at(deadline, detach::run(work, &mut rx)).await {
        Ok(answer) => answer,
        Err(_) => {
            // Flag first, then close: a send that fails from now on sees
            // the flag; one that made it before the close is answered.
            timed_out.store(true, Ordering::SeqCst);
            rx.close();
            match rx.try_recv() {
                Ok(resp) => Some(resp),
                Err(_) => {
                    let e = relay::request_timeout(limit).shaped(relay::shape_of(endpoint));
                    let mut resp = e.into_response();
                    // The work logs its access line when it records the 504.
                    resp.extensions_mut().insert(AccessLogged);
                    return resp;
                }
            }
        }
    };
    match answer {
        Some(resp) => resp,
        None => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the request's task ended without an answer; it has been logged",
        )
        .into_response(),
    }
}
