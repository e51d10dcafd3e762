//! The Responses API's translated routes: a Responses request to a Chat
//! Completions provider, or on through Chat Completions to an Anthropic
//! one, and the answer back. The stateless refusals are 400s in OpenAI's
//! shape naming the field (`unsupported_parameter`); fields lost on the
//! way are named in Responses' terms where the name differs.

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::StatusCode;
use bytes::Bytes;

use super::error::ApiError;
use super::translation::{Answer, invalid_request, upstream_invalid};
use crate::translate::responses::{Echo, ResponsesError, chat_to_responses, responses_to_chat};
use crate::translate::{self, Dropped, RequestOpts, Translated};

/// The upstream's request body; `echo` becomes the request's settings.
pub(super) fn request(
    via_messages: bool,
    echo: &mut Arc<Echo>,
    body: &[u8],
    opts: &RequestOpts,
) -> Result<Translated, ApiError> {
    let (chat, e) = responses_to_chat(body, opts).map_err(|e| match e {
        ResponsesError::Stateless { param, message } => {
            ApiError::bad_request("unsupported_parameter", message).param(param)
        }
        ResponsesError::Translate(e) => invalid_request(&e),
    })?;
    *echo = Arc::new(e);
    if !via_messages {
        return Ok(chat);
    }
    let mut t = translate::chat_to_messages(&chat.body, opts).map_err(|e| invalid_request(&e))?;
    let mut dropped = chat.dropped;
    for f in t.dropped.iter() {
        dropped.push(responses_name(f));
    }
    t.dropped = dropped;
    Ok(t)
}

/// What the Chat → Messages step drops, named as the Responses client
/// sent it.
fn responses_name(chat_name: &str) -> String {
    match chat_name {
        "response_format" => "text.format",
        "verbosity" => "text.verbosity",
        "reasoning_effort" => "reasoning.effort",
        "tools[].function.strict" => "tools[].strict",
        "image_url.detail" => "input[].content[].input_image.detail",
        "messages[].content[].file" => "input[].content[].input_file",
        other => other,
    }
    .to_string()
}

/// The upstream's whole answer as a Response object (errors in OpenAI's
/// shape), with the usage the upstream reported.
pub(super) fn answer(
    via_messages: bool,
    echo: &Echo,
    status: StatusCode,
    body: &[u8],
) -> Result<Answer, ApiError> {
    if !status.is_success() {
        // A Chat upstream's error is in OpenAI's shape already.
        let (status, body) = if via_messages {
            let e = translate::error::messages_to_chat(status.as_u16(), body);
            let s = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
            (s, Bytes::from(e.body))
        } else {
            (status, Bytes::copy_from_slice(body))
        };
        return Ok(Answer {
            status,
            body,
            usage: None,
            dropped: Dropped::default(),
        });
    }
    // A Chat upstream's answer is read where it lies (no copy).
    let (chat, usage, mut dropped) = if via_messages {
        let t = translate::response::messages_to_chat(body).map_err(|e| upstream_invalid(&e))?;
        (Cow::Owned(t.body), Some(t.usage), t.dropped)
    } else {
        (Cow::Borrowed(body), None, Dropped::default())
    };
    let r = chat_to_responses(&chat, echo).map_err(|e| upstream_invalid(&e))?;
    r.dropped.iter().for_each(|f| dropped.push(f.to_string()));
    Ok(Answer {
        status,
        body: Bytes::from(r.body),
        // Anthropic's own count (cache writes included), else Chat's.
        usage: Some(usage.unwrap_or(r.usage)),
        dropped,
    })
}
