//! A non-streamed answer: read whole from the upstream, its usage taken
//! (translated when the client speaks another API), then sent, or held
//! until its entry is durable.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::BytesMut;
use futures_util::StreamExt;

use super::AppState;
use super::error::ApiError;
use super::record::decorate;
use super::relay::{Outcome, RequestCtx, shape_of};
use super::translation::Direction;
use crate::ledger::TokenSource;
use crate::providers::UpstreamResponse;

/// A non-streamed answer: read it all, take its usage, then answer.
pub(super) async fn whole_body(
    state: &AppState,
    ctx: &RequestCtx,
    out: &mut Outcome,
    upstream: UpstreamResponse,
    sent: Instant,
    direction: Option<Direction>,
) -> Result<(), ApiError> {
    let mut status = upstream.status;
    let limit = Duration::from_millis(state.config.server.request_timeout_ms);
    let mut body = upstream.body;
    let mut buf = BytesMut::new();
    let collected = tokio::time::timeout(limit, async {
        while let Some(chunk) = body.next().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok::<(), crate::providers::UpstreamError>(())
    })
    .await;
    match collected {
        Err(_) => {
            let e = ApiError::new(
                axum::http::StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                format!("the upstream did not finish its answer within {limit:?}"),
            );
            return Err(e);
        }
        Ok(Err(e)) => return Err(ApiError::upstream(&e)),
        Ok(Ok(())) => {}
    }
    let upstream_latency = sent.elapsed();
    out.upstream_latency = Some(upstream_latency);
    let mut bytes = buf.freeze();
    if !status.is_success() {
        out.error = Some((
            "upstream_status",
            String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).into_owned(),
        ));
    }
    let mut content_type = upstream.content_type;
    let usage = match direction {
        None if status.is_success() => {
            crate::providers::usage::from_body(shape_of(ctx.endpoint), &bytes)
        }
        None => None,
        Some(d) => {
            let answer = d.answer(status, &bytes)?;
            status = answer.status;
            bytes = answer.body;
            content_type = None;
            answer
                .dropped
                .iter()
                .for_each(|f| out.dropped.push(f.to_string()));
            answer.usage
        }
    };
    out.status = status.as_u16();
    if let Some(u) = usage {
        out.usage = u;
        out.source = TokenSource::Provider;
    }
    out.overhead = Some(ctx.start.elapsed().saturating_sub(upstream_latency));
    let Some(reply) = out.reply.take().filter(|r| !r.is_closed()) else {
        out.client_closed(ctx, limit);
        return Ok(());
    };
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        content_type.unwrap_or_else(|| HeaderValue::from_static("application/json")),
    );
    decorate(&mut resp, ctx, out);
    if out.gate.take().is_some() {
        out.held = Some((resp, reply));
    } else if reply.send(resp).is_err() {
        out.client_closed(ctx, limit);
    }
    Ok(())
}
