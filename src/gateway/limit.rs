//! Admission on `/v1`, the step after auth and model access: checks the
//! principal's rate-limit buckets and, for a request that goes upstream,
//! reserves its estimated cost against its budgets — one call to the
//! limiter, one Redis round trip with a Redis store. Answers 429 with
//! `Retry-After` when a bucket is empty (OpenAI's shape, Anthropic's on
//! /v1/messages), 429 `budget_exceeded` when a budget is spent
//! ([`super::spend`]), and puts `X-RateLimit-*` headers on every answer
//! ([`headers`]). Refusals are counted, not written to the ledger.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::App;
use super::error::ApiError;
use crate::identity::Principal;
use crate::providers::usage::Shape;
use crate::ratelimit::{Spend, Ticket, Verdict};

/// Assumed output tokens when a request sets no `max_tokens`.
pub const DEFAULT_OUTPUT_ESTIMATE: u64 = 1000;

/// What admission let through: the rate-limit verdict (`None` when there
/// is no limiter or nobody is authenticated) and the budgets' hold.
pub struct Admitted {
    pub verdict: Option<Verdict>,
    pub ticket: Option<Ticket>,
}

/// Lets the request through, or answers 429 (a rate limit, or a budget when
/// `charge`: the request goes upstream and costs), or 503 (the budgets'
/// store failed and `budgets.on_store_failure = refuse`). The body may have
/// been read for the estimates; the request returned carries it again.
pub async fn check(
    state: &App,
    principal: Option<&Principal>,
    req: Request,
    charge: bool,
) -> Result<(Request, Admitted), Response> {
    let none = Admitted {
        verdict: None,
        ticket: None,
    };
    let Some(limiter) = &state.limiter else {
        return Ok((req, none));
    };
    let Some(principal) = principal else {
        return Ok((req, none));
    };
    let shape = if req.uri().path() == "/v1/messages" {
        Shape::Anthropic
    } else {
        Shape::OpenAi
    };
    let post = req.method() == http::Method::POST;
    let tokens = post && limiter.tokens_per_minute(principal).is_some();
    let budgets = post && charge && principal.budgets.is_some();
    let (req, estimate, ask) = if tokens || budgets {
        let (req, read) = pre_read(req, state.config.server.max_body_bytes).await;
        let head = read
            .as_ref()
            .map(|(len, b)| (*len, super::spend::Head::of(b)));
        let estimate = head.as_ref().filter(|_| tokens).map(|(len, h)| {
            (*len as u64).div_ceil(4) + h.output_limit().unwrap_or(DEFAULT_OUTPUT_ESTIMATE)
        });
        let ask = head
            .as_ref()
            .filter(|_| budgets)
            .and_then(|(len, h)| super::spend::ask(state, principal, *len, h));
        (req, estimate, ask)
    } else {
        (req, None, None)
    };
    let (verdict, spend) = limiter.admit(principal, estimate, ask.as_ref()).await;
    if verdict.allowed && verdict.store_failed {
        state.telemetry.rate_limit_store_failed();
    }
    if verdict.store_skipped {
        state.telemetry.rate_limit_store_skipped();
    }
    if ask.is_some() && (verdict.store_failed || verdict.store_skipped) {
        let outcome = if spend == Spend::Unavailable {
            "refused"
        } else {
            "local"
        };
        state.telemetry.budget_store_failed(outcome);
    }
    if !verdict.allowed {
        return Err(refused(state, principal, &verdict, shape));
    }
    let ticket = match spend {
        Spend::Free => None,
        Spend::Held(t) => Some(t),
        Spend::Exceeded(x) => {
            if let Some(r) = verdict.reserved_tokens {
                limiter.settle(r, 0).await;
            }
            return Err(super::spend::exceeded(state, &x, shape));
        }
        Spend::Unavailable => {
            if let Some(r) = verdict.reserved_tokens {
                limiter.settle(r, 0).await;
            }
            return Err(super::spend::unavailable(state, shape));
        }
    };
    Ok((
        req,
        Admitted {
            verdict: Some(verdict),
            ticket,
        },
    ))
}

/// 429 for a rate limit, with `Retry-After` and the limit's headers.
fn refused(state: &App, principal: &Principal, verdict: &Verdict, shape: Shape) -> Response {
    state
        .telemetry
        .rate_limited(verdict.scope.as_str(), verdict.store_failed);
    tracing::info!(scope = verdict.scope.as_str(), user = %principal.user_name, "rate limited");
    let message = if verdict.store_failed {
        "the rate-limit store is unavailable and rate_limit.fail_open is false; try again shortly"
            .to_string()
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
    headers(&mut resp, verdict);
    resp
}

// Names made once: a `&str` name is parsed again on every insert.
const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
pub(super) const TYPE: HeaderName = HeaderName::from_static("x-ratelimit-type");

/// The `X-RateLimit-*` headers of a verdict, on an answer.
pub fn headers(resp: &mut Response, v: &Verdict) {
    if !v.has_limits() {
        return;
    }
    let h = resp.headers_mut();
    h.insert(LIMIT, HeaderValue::from(v.limit as u64));
    h.insert(REMAINING, HeaderValue::from(v.remaining as u64));
    h.insert(RESET, HeaderValue::from(v.reset_s.ceil() as u64));
    h.insert(TYPE, HeaderValue::from_static(v.scope.as_str()));
}

/// Reads the body once for the estimates (tokens and budgets) and hands
/// the bytes on in the request's extensions ([`super::body::PreRead`]), so
/// the relay does not read it again. Gives the body's length and bytes, or
/// `None` when it cannot be read: the relay answers and records that
/// failure, once.
async fn pre_read(req: Request, max: usize) -> (Request, Option<(usize, bytes::Bytes)>) {
    let (mut parts, body) = req.into_parts();
    // Read already by the model-access check, or not yet.
    let read = match parts.extensions.remove::<super::body::PreRead>() {
        Some(pre) => pre.0,
        None => super::body::read(body, &parts.headers, max).await,
    };
    let got = read.as_ref().ok().map(|b| (b.len(), b.clone()));
    parts.extensions.insert(super::body::PreRead(read));
    (Request::from_parts(parts, Body::empty()), got)
}
