//! The attempt loop of one client request: pick a deployment, translate
//! the request for its provider, send it, and on a failure that nothing
//! has reached the client yet go on to the next one, until an answer is
//! there to relay.
//!
//! Order of what comes next after a failed attempt: another deployment of
//! the same model (while `routing.max_attempts` allows), else the same
//! deployment again (its provider's `max_retries`, with backoff), else the
//! next fallback model. The answer of the last attempt goes to the client
//! as it came (an upstream 503 stays the upstream's 503) when nothing is
//! left. Every attempt is counted in the entry (`attempts`,
//! `failed_attempts`); none has an entry of its own.

mod plan;
mod prepare;

use std::time::Instant;

use bytes::Bytes;

use super::AppState;
use super::error::ApiError;
use super::relay::{Outcome, RequestCtx, model_not_found};
use super::request::Parsed;
use super::routing::{InFlight, now_ns};
use super::translation::{Direction, StreamTranslator};
use crate::providers::{UpstreamError, UpstreamResponse};
use plan::{Plan, no_deployment};
use prepare::{context_too_long, log_next, prepare};

/// The attempt whose answer goes to the client.
pub(super) struct Answered {
    pub upstream: UpstreamResponse,
    pub sent: Instant,
    pub direction: Option<Direction>,
    pub translator: Option<StreamTranslator>,
    /// The gateway asked for the usage chunk itself (and so drops it).
    pub ask_usage: bool,
    /// Counts the request in flight on its deployment until it ends.
    pub _in_flight: InFlight,
}

/// Runs attempts until one answers (or the last one failed); fills the
/// routing facts of `out` as it goes.
pub(super) async fn run(
    state: &AppState,
    ctx: &RequestCtx,
    bytes: &Bytes,
    parsed: &Parsed,
    stream: bool,
    out: &mut Outcome,
) -> Result<Answered, ApiError> {
    let Some(route) = state.routes.get(&parsed.model).cloned() else {
        return Err(model_not_found(state, &parsed.model));
    };
    let cfg = &state.config.routing;
    let mut plan = Plan {
        fallbacks: route.fallbacks.iter().cloned().collect(),
        context_fallbacks: route.context_window_fallbacks.iter().cloned().collect(),
        route,
        tried: 0,
        counted: 0,
        last: None,
        cooling: None,
    };
    let mut next = match plan.next(state, false) {
        Some(n) => n,
        None => return Err(no_deployment(&plan, out)),
    };
    loop {
        let route = plan.route.clone();
        let d = &route.deployments[next.index];
        let s = &route.states[next.index];
        if next.retry {
            let retries = plan.last.map_or(0, |l| l.1);
            tokio::time::sleep(d.provider.retry_delay(retries)).await;
        }
        let (req, direction, translator, ask_usage) =
            prepare(ctx, bytes, parsed, stream, &route, next.index, out)?;
        out.attempts += 1;
        let in_flight = s.start();
        let sent = Instant::now();
        let result = d.provider.send(req).await;
        let now = now_ns();
        // A failure: its label, the upstream's answer if there was one,
        // whether it may go to another deployment, its Retry-After.
        let (label, answer, error) = match result {
            Ok(mut up) => {
                let code = up.status.as_u16();
                if cfg.failover_statuses.contains(&code) {
                    let label = if code == 429 {
                        "upstream_429"
                    } else {
                        "upstream_5xx"
                    };
                    (label, Some(up), None)
                } else if code == 400 && !plan.context_fallbacks.is_empty() {
                    let (too_long, body) = context_too_long(state, up.body).await;
                    up.body = body;
                    if too_long {
                        s.success(sent.elapsed(), now, &state.routes.policy);
                        plan.context_fallbacks_only();
                        out.failed.push((d.name.clone(), "context_length"));
                        match plan.next(state, true) {
                            Some(n) => {
                                next = n;
                                continue;
                            }
                            None => {
                                return Ok(answered(
                                    up, sent, direction, translator, ask_usage, in_flight,
                                ));
                            }
                        }
                    }
                    s.success(sent.elapsed(), now, &state.routes.policy);
                    return Ok(answered(
                        up, sent, direction, translator, ask_usage, in_flight,
                    ));
                } else {
                    s.success(sent.elapsed(), now, &state.routes.policy);
                    return Ok(answered(
                        up, sent, direction, translator, ask_usage, in_flight,
                    ));
                }
            }
            Err(e) => {
                let may = match &e {
                    UpstreamError::Connect { .. } => true,
                    UpstreamError::Timeout { .. } | UpstreamError::Dropped { .. } => {
                        cfg.failover_after_send
                    }
                    UpstreamError::Body { .. } | UpstreamError::Config { .. } => false,
                };
                if !may {
                    if matches!(
                        e,
                        UpstreamError::Timeout { .. } | UpstreamError::Dropped { .. }
                    ) {
                        s.failure(e.label(), None, now, &state.routes.policy);
                        out.failed.push((d.name.clone(), e.label()));
                    }
                    return Err(ApiError::upstream(&e));
                }
                (e.label(), None, Some(e))
            }
        };
        let retry_after = answer
            .as_ref()
            .filter(|_| label == "upstream_429")
            .and_then(|a| a.retry_after);
        s.failure(label, retry_after, now, &state.routes.policy);
        out.failed.push((d.name.clone(), label));
        let retries = match plan.last {
            Some((i, n, _)) if i == next.index && next.retry => n + 1,
            _ => 0,
        };
        plan.last = Some((next.index, retries, true));
        match plan.next(state, false) {
            Some(n) => {
                log_next(&route, next.index, &plan, n, label, &error);
                drop(in_flight);
                next = n;
            }
            None => {
                return match (answer, error) {
                    (Some(up), _) => Ok(answered(
                        up, sent, direction, translator, ask_usage, in_flight,
                    )),
                    (None, Some(e)) => Err(ApiError::upstream(&e)),
                    (None, None) => Err(no_deployment(&plan, out)),
                };
            }
        }
    }
}

fn answered(
    upstream: UpstreamResponse,
    sent: Instant,
    direction: Option<Direction>,
    translator: Option<StreamTranslator>,
    ask_usage: bool,
    in_flight: InFlight,
) -> Answered {
    Answered {
        upstream,
        sent,
        direction,
        translator,
        ask_usage,
        _in_flight: in_flight,
    }
}
