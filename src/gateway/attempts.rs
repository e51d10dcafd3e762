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

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use super::AppState;
use super::error::ApiError;
use super::relay::{Outcome, RequestCtx, model_not_found};
use super::request::{self, Parsed};
use super::routes::Route;
use super::routing::{Choice, InFlight, now_ns, pick};
use super::translation::{Direction, StreamTranslator};
use crate::providers::{Endpoint, UpstreamError, UpstreamRequest, UpstreamResponse};
use crate::translate::RequestOpts;

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

/// What the loop knows between attempts.
struct Plan {
    route: Arc<Route>,
    tried: u64,
    /// Attempts that counted against `routing.max_attempts`.
    counted: u32,
    /// The last deployment tried, its retries so far, and whether its
    /// failure may be retried on it.
    last: Option<(usize, u32, bool)>,
    fallbacks: VecDeque<String>,
    context_fallbacks: VecDeque<String>,
    /// The soonest end of a cooldown met along the way.
    cooling: Option<u64>,
}

/// The next attempt: a deployment of `plan.route`, and whether it is a
/// retry on the same one.
#[derive(Clone, Copy)]
struct Next {
    index: usize,
    retry: bool,
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

impl Plan {
    /// The next attempt, or `None` when nothing is left (or everything left
    /// is cooling down: `self.cooling` says until when).
    fn next(&mut self, state: &AppState, context: bool) -> Option<Next> {
        let max = state.config.routing.max_attempts;
        let policy = &state.routes.policy;
        loop {
            if self.counted < max {
                let choice = pick(
                    &self.route.states,
                    self.tried,
                    self.route.strategy,
                    now_ns(),
                    policy,
                    &mut rand::thread_rng(),
                );
                match choice {
                    Choice::Go { index, .. } => {
                        self.tried |= 1u64.checked_shl(index as u32).unwrap_or(0);
                        self.counted += 1;
                        return Some(Next {
                            index,
                            retry: false,
                        });
                    }
                    Choice::Cooling(until) => {
                        self.cooling = Some(self.cooling.map_or(until, |c| c.min(until)));
                    }
                    Choice::Exhausted => {}
                }
            }
            if let Some((index, retries, true)) = self.last {
                let d = &self.route.deployments[index];
                let cooling = self.route.states[index].cooling(now_ns());
                if retries < d.provider.max_retries() && !cooling && !context {
                    return Some(Next { index, retry: true });
                }
            }
            if self.counted >= max {
                return None;
            }
            let name = if context {
                self.context_fallbacks.pop_front()
            } else {
                self.fallbacks.pop_front()
            }?;
            let Some(route) = state.routes.get(&name) else {
                continue;
            };
            self.route = route.clone();
            self.tried = 0;
            self.last = None;
        }
    }

    /// The prompt was too long: only the context-window fallbacks can help.
    fn context_fallbacks_only(&mut self) {
        self.tried = u64::MAX;
        self.last = None;
    }
}

/// Builds the attempt's request for deployment `index` of `route`,
/// translated when its provider speaks another API than the client, and
/// records the attempt's routing facts in `out`.
fn prepare(
    ctx: &RequestCtx,
    bytes: &Bytes,
    parsed: &Parsed,
    stream: bool,
    route: &Arc<Route>,
    index: usize,
    out: &mut Outcome,
) -> Result<
    (
        UpstreamRequest,
        Option<Direction>,
        Option<StreamTranslator>,
        bool,
    ),
    ApiError,
> {
    let d = &route.deployments[index];
    let (direction, upstream_api) = Direction::of(ctx.endpoint, d.provider.kind())?;
    out.served = Some((route.clone(), index));
    out.model = route.model.clone();
    out.requested_model = (route.model != parsed.model).then(|| parsed.model.clone());
    out.upstream_api = Some(upstream_api);
    out.dropped = crate::translate::Dropped::default();
    let (body, ask_usage, translator) = match direction {
        None => {
            // Ask OpenAI-shaped upstreams for the usage chunk; drop it
            // later if the client did not ask for it itself.
            let ask = stream && ctx.endpoint == Endpoint::ChatCompletions && !parsed.include_usage;
            let body = request::upstream_body(bytes.clone(), parsed, &d.upstream_model, ask);
            (body, ask, None)
        }
        Some(dir) => {
            let opts = RequestOpts {
                max_tokens_default: route.max_tokens_default,
                ..RequestOpts::new(&d.upstream_model)
            };
            let t = dir.request(bytes, &opts)?;
            out.dropped = t.dropped;
            let translator = stream.then(|| StreamTranslator::new(dir, t.include_usage));
            (Bytes::from(t.body), false, translator)
        }
    };
    let req = UpstreamRequest {
        endpoint: upstream_api,
        body,
        stream,
        model: d.upstream_model.clone(),
        anthropic_headers: request::anthropic_headers(&ctx.headers),
    };
    Ok((req, direction, translator, ask_usage))
}

/// Longest error body read to look for a context-length error.
const ERROR_BODY_MAX: usize = 64 * 1024;

/// Reads a 400's body and says whether it is the upstream's "prompt too
/// long" (OpenAI `context_length_exceeded`, Anthropic "prompt is too
/// long"); the body goes on to the client either way.
async fn context_too_long(
    state: &AppState,
    mut body: crate::providers::ByteStream,
) -> (bool, crate::providers::ByteStream) {
    let limit = std::time::Duration::from_millis(state.config.server.request_timeout_ms);
    let mut buf = BytesMut::new();
    let read = tokio::time::timeout(limit, async {
        while buf.len() < ERROR_BODY_MAX {
            match body.next().await {
                Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
        Ok(())
    })
    .await;
    let bytes = buf.freeze();
    let text = String::from_utf8_lossy(&bytes);
    let too_long = text.contains("context_length_exceeded") || text.contains("prompt is too long");
    let head = futures_util::stream::iter([Ok(bytes)]);
    let rest: crate::providers::ByteStream = match read {
        Ok(Ok(())) => Box::pin(head.chain(body)),
        Ok(Err(e)) => Box::pin(head.chain(futures_util::stream::iter([Err(e)]))),
        _ => Box::pin(head),
    };
    (too_long, rest)
}

/// 503 `no_deployment_available`: every deployment is cooling down (or
/// none is left); `Retry-After` is the soonest end of a cooldown.
fn no_deployment(plan: &Plan, out: &mut Outcome) -> ApiError {
    let now = now_ns();
    let wait_s = plan.cooling.map_or(1, |until| {
        until.saturating_sub(now).div_ceil(1_000_000_000).max(1)
    });
    out.retry_after = Some(wait_s);
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no_deployment_available",
        format!(
            "every deployment of model `{}` is cooling down after failures; retry after {wait_s} s",
            plan.route.model
        ),
    )
}

/// The warning for a failed attempt that is tried again elsewhere (or on
/// the same deployment).
fn log_next(
    route: &Route,
    failed: usize,
    plan: &Plan,
    next: Next,
    label: &str,
    error: &Option<UpstreamError>,
) {
    let provider = route.deployments[failed].provider.name();
    let deployment = &route.deployments[failed].name;
    let error = error.as_ref().map(ToString::to_string).unwrap_or_default();
    if next.retry {
        let what = if label == "upstream_unreachable" {
            "upstream not reached; retrying"
        } else {
            "upstream refused the request; retrying"
        };
        tracing::warn!(provider, deployment, error = label, detail = %error, "{what}");
    } else {
        let to = &plan.route.deployments[next.index].name;
        tracing::warn!(provider, deployment, error = label, detail = %error, model = %plan.route.model, to = %to, "failing over");
    }
}
