//! `POST /v1/messages/count_tokens`, Anthropic's token count for a
//! Messages body, which coding agents call before they send.
//!
//! A model on an Anthropic provider gets the upstream's own count (the body
//! passed through with the upstream's model name). Any other model gets an
//! estimate, marked so with `x-tokctl-estimated: true`: about four
//! characters of text per token, plus a few per message — the same rough
//! measure the tokens-per-minute limit uses, no tokenizer. Counting costs
//! nothing upstream, so it leaves no ledger entry (like `GET /v1/models`);
//! auth and rate limits apply as to any request.

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use futures_util::StreamExt;
use serde_json::Value;

use super::AppState;
use super::body::{PreRead, RequestBody};
use super::error::ApiError;
use super::relay::model_not_found;
use super::request;
use crate::config::ProviderKind;
use crate::providers::usage::Shape;
use crate::providers::{Endpoint, UpstreamRequest};

/// Tokens counted per message on top of its text (role and framing).
const PER_MESSAGE: u64 = 4;

/// Answers one count request.
pub(super) async fn answer(state: AppState, req: Request) -> Response {
    match count(&state, req).await {
        Ok(resp) => resp,
        Err(e) => e.shaped(Shape::Anthropic).into_response(),
    }
}

async fn count(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let body = match parts.extensions.remove::<PreRead>() {
        Some(read) => RequestBody::Read(read.0),
        None => RequestBody::Unread(body),
    };
    let bytes = body
        .bytes(&parts.headers, state.config.server.max_body_bytes)
        .await?;
    let parsed = request::parse(&bytes)?;
    let route = state
        .routes
        .get(&parsed.model)
        .ok_or_else(|| model_not_found(state, &parsed.model))?;
    let route = route.primary();
    if route.provider.kind() != ProviderKind::Anthropic {
        let tokens = estimate(&bytes).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_request",
                "the body must be a Messages request: a JSON object with `messages`",
            )
            .param("messages")
        })?;
        let mut resp = axum::Json(serde_json::json!({ "input_tokens": tokens })).into_response();
        resp.headers_mut()
            .insert("x-tokctl-estimated", HeaderValue::from_static("true"));
        return Ok(resp);
    }
    let upstream = UpstreamRequest {
        endpoint: Endpoint::CountTokens,
        body: request::upstream_body(bytes, &parsed, &route.upstream_model, false),
        stream: false,
        model: route.upstream_model.clone(),
        anthropic_headers: request::anthropic_headers(&parts.headers),
    };
    let answer = route
        .provider
        .send(upstream)
        .await
        .map_err(|e| ApiError::upstream(&e))?;
    let limit = Duration::from_millis(state.config.server.request_timeout_ms);
    let mut body = answer.body;
    let mut buf = BytesMut::new();
    let read = tokio::time::timeout(limit, async {
        while let Some(chunk) = body.next().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok::<(), crate::providers::UpstreamError>(())
    })
    .await;
    match read {
        Err(_) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            format!("the upstream did not finish its count within {limit:?}"),
        )),
        Ok(Err(e)) => Err(ApiError::upstream(&e)),
        Ok(Ok(())) => {
            let mut resp = Response::new(axum::body::Body::from(buf.freeze()));
            *resp.status_mut() = answer.status;
            let json = HeaderValue::from_static("application/json");
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, answer.content_type.unwrap_or(json));
            Ok(resp)
        }
    }
}

/// About four characters per token over every string of the system
/// prompt, the messages and the tools, plus [`PER_MESSAGE`] per message;
/// `None` when the body has no `messages` array.
fn estimate(body: &[u8]) -> Option<u64> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let messages = v.get("messages")?.as_array()?;
    let chars: usize = ["system", "messages", "tools"]
        .iter()
        .filter_map(|k| v.get(*k))
        .map(text_chars)
        .sum();
    Some((chars as u64).div_ceil(4) + PER_MESSAGE * messages.len() as u64)
}

/// Characters in every string inside `v`.
fn text_chars(v: &Value) -> usize {
    match v {
        Value::String(s) => s.chars().count(),
        Value::Array(a) => a.iter().map(text_chars).sum(),
        Value::Object(o) => o.values().map(text_chars).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_grow_with_the_text_and_the_messages() {
        let one = br#"{"model":"m","messages":[{"role":"user","content":"abcdefgh"}]}"#;
        // "user" (4) + "abcdefgh" (8) = 12 chars = 3 tokens, + 4 for the message.
        assert_eq!(estimate(one), Some(7));
        let two =
            br#"{"model":"m","system":"abcd","messages":[{"role":"user","content":"abcdefgh"},
            {"role":"assistant","content":[{"type":"text","text":"abcd"}]}]}"#;
        assert!(estimate(two) > estimate(one));
        assert_eq!(estimate(br#"{"model":"m"}"#), None);
    }
}
