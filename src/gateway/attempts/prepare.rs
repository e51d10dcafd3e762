//! One attempt's pieces: its request, translated for the deployment's
//! provider; a 400 read to tell "prompt too long" apart; the warning when
//! an attempt is tried again.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use super::plan::{Next, Plan};
use crate::gateway::AppState;
use crate::gateway::error::ApiError;
use crate::gateway::relay::{Outcome, RequestCtx};
use crate::gateway::request::{self, Parsed};
use crate::gateway::routes::Route;
use crate::gateway::translation::{Direction, StreamTranslator};
use crate::providers::{Endpoint, UpstreamError, UpstreamRequest};
use crate::translate::RequestOpts;

/// An attempt's request, its translation (if any), and whether the
/// gateway asked for the usage chunk itself.
pub(super) type Prepared = (
    UpstreamRequest,
    Option<Direction>,
    Option<StreamTranslator>,
    bool,
);

/// Builds the attempt's request for deployment `index` of `route`,
/// translated when its provider speaks another API than the client, and
/// records the attempt's routing facts in `out`.
pub(super) fn prepare(
    ctx: &RequestCtx,
    bytes: &Bytes,
    parsed: &Parsed,
    stream: bool,
    route: &Arc<Route>,
    index: usize,
    out: &mut Outcome,
) -> Result<Prepared, ApiError> {
    let d = &route.deployments[index];
    let (mut direction, upstream_api) = Direction::of(ctx.endpoint, d.provider.as_ref())?;
    out.served = Some((route.clone(), index));
    out.model = route.model.clone();
    out.requested_model = (route.model != parsed.model).then(|| parsed.model.clone());
    out.upstream_api = Some(upstream_api);
    out.dropped = crate::translate::Dropped::default();
    let (body, ask_usage, translator) = match &mut direction {
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
            let translator = stream.then(|| StreamTranslator::new(dir.clone(), t.include_usage));
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
pub(super) async fn context_too_long(
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

/// The warning for a failed attempt that is tried again elsewhere (or on
/// the same deployment).
pub(super) fn log_next(
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
