//! Upstream error answers in the client's API: the body reshaped and the
//! status mapped (Anthropic `overloaded_error` 529 ⇄ OpenAI 503,
//! `rate_limit_error` ⇄ 429, `invalid_request_error` ⇄ 400, …; the table is
//! in `mapping`). The upstream's message is kept word for word; the
//! original error type is kept too (as OpenAI's `code`), so nothing the
//! upstream said is lost.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::de::to_body;
use super::mapping;

/// An error answer for the client: its status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslatedError {
    pub status: u16,
    pub body: Vec<u8>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    error: Option<Inner<'a>>,
}

#[derive(Deserialize)]
struct Inner<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
struct OpenAiOut<'a> {
    error: OpenAiError<'a>,
}

#[derive(Serialize)]
struct OpenAiError<'a> {
    message: Cow<'a, str>,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<()>,
    code: Cow<'a, str>,
}

#[derive(Serialize)]
struct AnthropicOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: AnthropicError<'a>,
}

#[derive(Serialize)]
struct AnthropicError<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: Cow<'a, str>,
}

/// The longest piece of a non-JSON error body kept in the message.
const MAX_RAW: usize = 1000;

/// Reads `{"error":{"type","message"}}` (both APIs nest it so); a body
/// that is not that shape (an HTML page from a proxy) becomes the message.
fn read(status: u16, body: &[u8]) -> (Option<Cow<'_, str>>, Cow<'_, str>) {
    match serde_json::from_slice::<Envelope>(body)
        .ok()
        .and_then(|e| e.error)
    {
        Some(i) => (
            i.kind,
            i.message
                .unwrap_or(Cow::Borrowed("the upstream gave no message")),
        ),
        None => {
            let text = String::from_utf8_lossy(body);
            let cut: String = text.chars().take(MAX_RAW).collect();
            (
                None,
                Cow::Owned(format!(
                    "the upstream answered {status} with a body that is not an error object: {cut}"
                )),
            )
        }
    }
}

/// An Anthropic error answer (status and body) in OpenAI's shape.
pub fn messages_to_chat(status: u16, body: &[u8]) -> TranslatedError {
    let (kind, message) = read(status, body);
    let kind = kind.unwrap_or(Cow::Borrowed(""));
    let (status, openai_type) = mapping::openai_error(&kind, status);
    let code = match kind.is_empty() {
        true => Cow::Borrowed("upstream_error"),
        false => kind,
    };
    let out = OpenAiOut {
        error: OpenAiError {
            message,
            kind: openai_type,
            param: None,
            code,
        },
    };
    TranslatedError {
        status,
        body: to_body(&out, body.len() + 96),
    }
}

/// An OpenAI error answer (status and body) in Anthropic's shape.
pub fn chat_to_messages(status: u16, body: &[u8]) -> TranslatedError {
    let (kind, message) = read(status, body);
    let (status, anthropic_type) = mapping::anthropic_error(status, kind.as_deref());
    let out = AnthropicOut {
        kind: "error",
        error: AnthropicError {
            kind: anthropic_type,
            message,
        },
    };
    TranslatedError {
        status,
        body: to_body(&out, body.len() + 64),
    }
}
