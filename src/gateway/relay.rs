//! One proxied request, run detached from the client connection.
//!
//! The handler runs [`process`] and waits for its answer; if the client
//! goes away it carries on as a task of its own (`super::detach`), so the request still leaves exactly one
//! ledger entry (status 499, `client_closed`, tokens so far). The order is:
//! admission to the ledger (backpressure happens here, before the upstream
//! is called), body checks, routing and the upstream attempts
//! (`attempts`), then either a whole body (`whole`) or a stream relayed
//! chunk by chunk while usage is read from it (`stream`); the entry and the
//! answer's headers are made in `record`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::oneshot;

use super::AppState;
use super::body::RequestBody;
use super::error::ApiError;
use super::record::{build_entry, decorate};
use super::request;
use crate::identity::Principal;
use crate::providers::Endpoint;
use crate::providers::usage::Shape;

/// Status recorded when the client went away before the answer was done
/// (nginx's convention; never sent, since nobody is listening).
pub const CLIENT_CLOSED: u16 = 499;

/// What the gateway knows about a request before its body is read.
pub struct RequestCtx {
    pub endpoint: Endpoint,
    pub request_id: String,
    pub client_request_id: Option<String>,
    pub principal: Option<Principal>,
    /// Tokens reserved by the tokens-per-minute limit, settled at the end.
    pub reservation: Option<crate::ratelimit::TokenReservation>,
    /// The budgets' hold, settled to the entry's cost at the end.
    pub ticket: Option<crate::ratelimit::Ticket>,
    pub start: Instant,
    pub created_at_us: i64,
    pub headers: HeaderMap,
    /// Set by the handler when `server.request_timeout_ms` passed before
    /// an answer began: it has answered 504 itself, and the entry says so.
    pub timed_out: Arc<AtomicBool>,
}

impl RequestCtx {
    /// Whether the handler gave up waiting and answered 504 itself. Read
    /// only once a reply could not be sent: the handler sets this before it
    /// closes the reply channel, so a failed send always sees it.
    pub(super) fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::SeqCst)
    }
}

/// The answer when no answer began within `server.request_timeout_ms`.
pub fn request_timeout(limit: Duration) -> ApiError {
    ApiError::new(
        StatusCode::GATEWAY_TIMEOUT,
        "request_timeout",
        format!(
            "no answer began within {} ms (server.request_timeout_ms); the request's usage is still recorded",
            limit.as_millis()
        ),
    )
}

pub(super) use super::outcome::Outcome;

/// Runs one request to its end and records its entry; the response goes
/// back through `reply` as soon as it is known.
pub async fn process(
    state: AppState,
    ctx: RequestCtx,
    body: RequestBody,
    reply: oneshot::Sender<Response>,
) {
    let _in_flight = state.telemetry.in_flight(state.metrics_shard.as_ref());
    let shape = shape_of(ctx.endpoint);
    let mut out = Outcome::new(reply);
    // The body first: a stalled upload must not hold a ledger place
    // others need (the place is taken once the body is here).
    let bytes = match check_content_type(&ctx.headers) {
        Ok(()) => {
            body.bytes(&ctx.headers, state.config.server.max_body_bytes)
                .await
        }
        Err(e) => Err(e),
    };
    let admission = match state.ledger.admit().await {
        Ok(a) => a,
        Err(refused) => return refuse_unrecordable(&state, ctx, &refused, out.reply.take()).await,
    };
    // With the spool on, or with inline writes, an answer ends only once its
    // entry is durable: a whole answer is held, a stream's end waits.
    let gate = state.ledger.holds_answers().then(|| {
        let (open, gate) = oneshot::channel();
        out.gate = Some(gate);
        open
    });
    let limit = Duration::from_millis(state.config.server.request_timeout_ms);
    let failed = match bytes {
        Ok(bytes) => run(&state, &ctx, bytes, &mut out).await.err(),
        Err(e) => Some(e),
    };
    let response = failed.map(|e| {
        let e = e.shaped(shape);
        out.fail(&e);
        if out.reply.as_ref().is_none_or(oneshot::Sender::is_closed) {
            // Nobody will read this error: the client left (499), or
            // the handler answered 504 for the request timeout.
            out.client_closed(&ctx, limit);
        }
        e
    });
    if out
        .held
        .as_ref()
        .is_some_and(|(_, reply)| reply.is_closed())
    {
        out.held = None;
        out.client_closed(&ctx, limit);
    }
    if out.overhead.is_none() {
        // Answered before or without an upstream answer: the time so far,
        // less any upstream time, is the gateway's.
        let upstream = out.upstream_latency.unwrap_or_default();
        out.overhead = Some(ctx.start.elapsed().saturating_sub(upstream));
    }
    let entry = build_entry(&state, &ctx, &out);
    tracing::debug!(request_id = %ctx.request_id, status = out.status, "recording entry");
    let used = entry.usage.input_tokens
        + entry.usage.cached_input_tokens
        + entry.usage.cache_write_tokens
        + entry.usage.output_tokens;
    let cost_nano = entry.cost_nano;
    if let (Some(t), Some(limiter)) = (&ctx.ticket, &state.limiter) {
        // Counted as unwritten until the writer commits the entry.
        limiter.unwritten_add(t, cost_nano);
    }
    let durable = state.ledger.persist(admission, entry).await;
    if let Some(open) = gate {
        let _ = open.send(());
    }
    if !durable && let Some((_, reply)) = out.held.take() {
        // Given up at shutdown on a spool disk that stayed full: the entry
        // was never written, so the answer is not given either.
        let e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ledger_unavailable",
            "the gateway shut down before this request's usage could be recorded; retry it",
        )
        .shaped(shape);
        let _ = reply.send(e.into_response());
    }
    if let Some((resp, reply)) = out.held.take() {
        // The entry says 200 already: a client gone in the last moment
        // (between the check above and here) still got everything it
        // waited for up to its own disconnect.
        let _ = reply.send(resp);
    }
    if let Some(limiter) = &state.limiter {
        let tokens = ctx.reservation.map(|r| (r, used.max(0) as u64));
        let crossed = limiter
            .settle_all(tokens, ctx.ticket.as_ref().map(|t| (t, cost_nano)))
            .await;
        super::spend::soft_crossed(&state, &crossed);
    }
    if let (Some(e), Some(reply)) = (response, out.reply.take()) {
        let mut resp = e.into_response();
        decorate(&mut resp, &ctx, &out);
        let _ = reply.send(resp);
    }
}

/// Seconds a client refused for want of ledger room is told to wait.
const LEDGER_RETRY_AFTER_S: &str = "2";

/// Answers 503 `ledger_unavailable` to a request that could not be given
/// a place in the ledger: the upstream is not called, so nothing is owed
/// or billed, and no entry is written (the one documented exception to
/// one entry per admitted request; counted in
/// `tokctl_ledger_refused_requests_total`).
async fn refuse_unrecordable(
    state: &AppState,
    ctx: RequestCtx,
    refused: &crate::ledger::Refused,
    reply: Option<oneshot::Sender<Response>>,
) {
    let e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "ledger_unavailable",
        format!(
            "this request cannot be recorded in the usage ledger ({refused}), so it was not sent upstream; retry later"
        ),
    )
    .shaped(shape_of(ctx.endpoint));
    tracing::debug!(request_id = %ctx.request_id, "refused, 503 ledger_unavailable: {refused}");
    if let Some(limiter) = &state.limiter {
        let tokens = ctx.reservation.map(|r| (r, 0));
        limiter
            .settle_all(tokens, ctx.ticket.as_ref().map(|t| (t, 0)))
            .await;
    }
    let mut resp = e.into_response();
    resp.extensions_mut().insert(super::AccessLogged);
    resp.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        HeaderValue::from_static(LEDGER_RETRY_AFTER_S),
    );
    if let Some(reply) = reply {
        let _ = reply.send(resp);
    }
}

/// From the body's bytes to an answer sent (or held) through `out.reply`;
/// an error is answered by [`process`], which records it.
async fn run(
    state: &AppState,
    ctx: &RequestCtx,
    bytes: Bytes,
    out: &mut Outcome,
) -> Result<(), ApiError> {
    out.request_bytes = bytes.len();
    let parsed = request::parse(&bytes)?;
    out.model = parsed.model.clone();
    let stream = parsed.stream && ctx.endpoint != Endpoint::Embeddings;
    let answered = super::attempts::run(state, ctx, &bytes, &parsed, stream, out).await?;
    let super::attempts::Answered {
        upstream,
        sent,
        direction,
        translator,
        ask_usage,
        _in_flight,
    } = answered;
    out.upstream_request_id = upstream.upstream_request_id.clone();
    let is_sse = upstream
        .content_type
        .as_ref()
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if stream && upstream.status.is_success() && is_sse {
        let relayed = super::stream::Relayed {
            upstream,
            sent,
            ask_usage,
            translator,
        };
        super::stream::relay(state, ctx, out, relayed).await;
        return Ok(());
    }
    super::whole::whole_body(state, ctx, out, upstream, sent, direction).await
}

/// 404 for a model the routing table does not have, listing those it has.
pub(super) fn model_not_found(state: &AppState, model: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "model_not_found",
        format!(
            "the model `{model}` does not exist here; known models: {}",
            state.routes.names.join(", ")
        ),
    )
    .param("model")
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be JSON: send the header `Content-Type: application/json`",
        ))
    }
}

pub fn shape_of(endpoint: Endpoint) -> Shape {
    match endpoint {
        Endpoint::Messages | Endpoint::CountTokens => Shape::Anthropic,
        Endpoint::Responses => Shape::Responses,
        Endpoint::ChatCompletions | Endpoint::Embeddings => Shape::OpenAi,
    }
}
