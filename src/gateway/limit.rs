//! Rate limits on `/v1`, the step after auth: checks the principal's
//! buckets, answers 429 (OpenAI's shape, Anthropic's on /v1/messages) with
//! `Retry-After` when one is empty, and puts `X-RateLimit-*` headers on
//! every answer ([`headers`]). Refusals are counted, not written to the
//! ledger.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::App;
use super::error::ApiError;
use crate::identity::Principal;
use crate::providers::usage::Shape;
use crate::ratelimit::Verdict;

/// Assumed output tokens when a request sets no `max_tokens`.
pub const DEFAULT_OUTPUT_ESTIMATE: u64 = 1000;

/// Lets the request through with the verdict (`None` when limits are off
/// or nobody is authenticated), or answers 429. The body may have been
/// read to estimate tokens; the request returned carries it again.
pub async fn check(
    state: &App,
    principal: Option<&Principal>,
    req: Request,
) -> Result<(Request, Option<Verdict>), Response> {
    let Some(limiter) = &state.limiter else {
        return Ok((req, None));
    };
    let Some(principal) = principal else {
        return Ok((req, None));
    };
    let shape = if req.uri().path() == "/v1/messages" {
        Shape::Anthropic
    } else {
        Shape::OpenAi
    };
    let (req, estimate) =
        if limiter.tokens_per_minute(principal).is_some() && req.method() == http::Method::POST {
            estimate_tokens(req, state.config.server.max_body_bytes).await
        } else {
            (req, None)
        };
    let verdict = limiter.check(principal, estimate).await;
    if verdict.allowed && verdict.store_failed {
        state.telemetry.rate_limit_store_failed();
    }
    if verdict.store_skipped {
        state.telemetry.rate_limit_store_skipped();
    }
    if !verdict.allowed {
        state
            .telemetry
            .rate_limited(verdict.scope.as_str(), verdict.store_failed);
        tracing::info!(scope = verdict.scope.as_str(), user = %principal.user_name, "rate limited");
        let message = if verdict.store_failed {
            "the rate-limit store is unavailable and rate_limit.fail_open is false; try again shortly".to_string()
        } else {
            format!(
                "rate limit reached ({} limit: {} at once); retry after {:.1} s",
                verdict.scope.as_str(),
                verdict.limit,
                verdict.retry_after_s
            )
        };
        let label = if verdict.store_failed {
            "rate_limit_store_down"
        } else {
            "rate_limited"
        };
        let mut resp = ApiError::new(StatusCode::TOO_MANY_REQUESTS, label, message)
            .shaped(shape)
            .into_response();
        let retry = verdict.retry_after_s.ceil().max(1.0) as u64;
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from(retry));
        headers(&mut resp, &verdict);
        return Err(resp);
    }
    Ok((req, Some(verdict)))
}

/// The `X-RateLimit-*` headers of a verdict, on an answer.
pub fn headers(resp: &mut Response, v: &Verdict) {
    if !v.has_limits() {
        return;
    }
    let h = resp.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(v.limit as u64));
    h.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(v.remaining as u64),
    );
    h.insert(
        "x-ratelimit-reset",
        HeaderValue::from(v.reset_s.ceil() as u64),
    );
    h.insert(
        "x-ratelimit-type",
        HeaderValue::from_static(v.scope.as_str()),
    );
}

/// Reads the body to estimate the request's tokens (prompt bytes / 4 plus
/// `max_tokens`) and hands the bytes on in the request's extensions
/// ([`super::body::PreRead`]), so the relay does not read it again. A body
/// that cannot be read gives no estimate: the relay answers and records
/// that failure, once.
async fn estimate_tokens(req: Request, max: usize) -> (Request, Option<u64>) {
    let (mut parts, body) = req.into_parts();
    // Read already by the model-access check, or not yet.
    let read = match parts.extensions.remove::<super::body::PreRead>() {
        Some(pre) => pre.0,
        None => super::body::read(body, &parts.headers, max).await,
    };
    let estimate = read.as_ref().ok().map(|bytes| {
        #[derive(serde::Deserialize)]
        struct Max {
            max_tokens: Option<u64>,
            max_completion_tokens: Option<u64>,
        }
        let output = serde_json::from_slice::<Max>(bytes)
            .ok()
            .and_then(|m| m.max_completion_tokens.or(m.max_tokens))
            .unwrap_or(DEFAULT_OUTPUT_ESTIMATE);
        (bytes.len() as u64).div_ceil(4) + output
    });
    parts.extensions.insert(super::body::PreRead(read));
    (Request::from_parts(parts, Body::empty()), estimate)
}
