//! Choosing and running a translation for one request: when the client's
//! API (the endpoint it called) differs from the API its route's provider
//! speaks, the request, the answer (whole or streamed) and error answers
//! are converted with [`crate::translate`]. When they match, nothing here
//! touches the bytes: the pass-through path pays for one comparison.
//!
//! The mock provider speaks every API natively, so it is never translated
//! to; embeddings exist only in OpenAI's API. A Responses client reaches a
//! provider without the Responses API through Chat Completions, and an
//! Anthropic provider through Chat Completions and then Messages
//! (`super::translation_responses`).

use std::sync::Arc;

use axum::http::StatusCode;
use bytes::Bytes;

use super::error::ApiError;
use crate::config::ProviderKind;
use crate::ledger::Usage;
use crate::providers::{Endpoint, Provider};
use crate::translate::responses::{ChatToResponses, Echo};
use crate::translate::stream::{ChatToMessages, MessagesToChat};
use crate::translate::{self, Dropped, RequestOpts, TranslateError};

/// Which way a request is translated.
#[derive(Debug, Clone)]
pub(super) enum Direction {
    /// A Chat Completions client, an Anthropic Messages provider.
    ChatToMessages,
    /// A Messages client, an OpenAI-compatible provider.
    MessagesToChat,
    /// A Responses client, a provider without the Responses API: through
    /// Chat Completions (and on to Messages for an Anthropic provider).
    /// `echo` is filled when the request is translated: the answer
    /// repeats the request's settings.
    Responses { via_messages: bool, echo: Arc<Echo> },
}

impl Direction {
    /// The translation a client on `client` needs to reach a provider of
    /// `kind` (`None`: they speak the same API), and the provider's API; an
    /// error when there is none (an embeddings request to an Anthropic
    /// provider).
    pub(super) fn of(
        client: Endpoint,
        provider: &dyn Provider,
    ) -> Result<(Option<Direction>, Endpoint), ApiError> {
        let responses = |via_messages| Direction::Responses {
            via_messages,
            echo: Arc::default(),
        };
        Ok(match (provider.kind(), client) {
            (ProviderKind::Mock, e) => (None, e),
            (ProviderKind::Openai, Endpoint::Responses) if provider.responses() => {
                (None, Endpoint::Responses)
            }
            (ProviderKind::Openai, Endpoint::Responses) => {
                (Some(responses(false)), Endpoint::ChatCompletions)
            }
            (ProviderKind::Anthropic, Endpoint::Responses) => {
                (Some(responses(true)), Endpoint::Messages)
            }
            (ProviderKind::Anthropic, e @ (Endpoint::Messages | Endpoint::CountTokens)) => {
                (None, e)
            }
            (ProviderKind::Anthropic, Endpoint::ChatCompletions) => {
                (Some(Direction::ChatToMessages), Endpoint::Messages)
            }
            (ProviderKind::Anthropic, Endpoint::Embeddings) => {
                return Err(ApiError::bad_request(
                    "wrong_endpoint",
                    "this model is served by an Anthropic provider, and Anthropic's API has no \
                     embeddings; route embeddings to an OpenAI-compatible provider",
                ));
            }
            (ProviderKind::Openai, Endpoint::Messages) => {
                (Some(Direction::MessagesToChat), Endpoint::ChatCompletions)
            }
            (ProviderKind::Openai, e) => (None, e),
        })
    }

    /// The request body for the upstream, what it lost, and whether a
    /// Chat client asked for the usage chunk.
    pub(super) fn request(
        &mut self,
        body: &[u8],
        opts: &RequestOpts,
    ) -> Result<translate::Translated, ApiError> {
        let out = match self {
            Direction::ChatToMessages => translate::chat_to_messages(body, opts),
            Direction::MessagesToChat => translate::messages_to_chat(body, opts),
            Direction::Responses { via_messages, echo } => {
                return super::translation_responses::request(*via_messages, echo, body, opts);
            }
        };
        out.map_err(|e| invalid_request(&e))
    }

    /// A whole answer from the upstream in the client's API: its status,
    /// body, usage (successes only) and what it lost. An answer that cannot
    /// be read is the upstream's fault: 502.
    pub(super) fn answer(&self, status: StatusCode, body: &[u8]) -> Result<Answer, ApiError> {
        if let Direction::Responses { via_messages, echo } = self {
            return super::translation_responses::answer(*via_messages, echo, status, body);
        }
        if !status.is_success() {
            let e = match self {
                Direction::ChatToMessages => {
                    translate::error::messages_to_chat(status.as_u16(), body)
                }
                _ => translate::error::chat_to_messages(status.as_u16(), body),
            };
            return Ok(Answer {
                status: StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY),
                body: Bytes::from(e.body),
                usage: None,
                dropped: Dropped::default(),
            });
        }
        let translated = match self {
            Direction::ChatToMessages => translate::response::messages_to_chat(body),
            _ => translate::response::chat_to_messages(body),
        };
        let t = translated.map_err(|e| upstream_invalid(&e))?;
        Ok(Answer {
            status,
            body: Bytes::from(t.body),
            usage: Some(t.usage),
            dropped: t.dropped,
        })
    }
}

/// An upstream answer that cannot be translated: 502.
pub(super) fn upstream_invalid(e: &TranslateError) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "upstream_invalid",
        format!("the upstream's answer could not be translated for this API: {e}"),
    )
}

/// A request that cannot be translated: 400, naming the field.
pub(super) fn invalid_request(e: &TranslateError) -> ApiError {
    ApiError::bad_request(
        "invalid_request",
        format!("the request could not be translated for this model's provider: {e}"),
    )
}

/// A whole answer translated for the client.
pub(super) struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
    pub usage: Option<Usage>,
    pub dropped: Dropped,
}

/// A stream being translated event by event.
pub(super) enum StreamTranslator {
    /// Anthropic events in, OpenAI chunks out (a Chat client).
    ToChat(Box<MessagesToChat>),
    /// OpenAI chunks in, Anthropic events out (a Messages client).
    ToMessages(Box<ChatToMessages>),
    /// OpenAI chunks in (made from Anthropic events first when `via` is
    /// set), Responses events out (a Responses client).
    Responses {
        via: Option<Box<MessagesToChat>>,
        out: Box<ChatToResponses>,
    },
}

impl StreamTranslator {
    pub(super) fn new(direction: Direction, include_usage: bool) -> StreamTranslator {
        match direction {
            Direction::ChatToMessages => {
                StreamTranslator::ToChat(Box::new(MessagesToChat::new(include_usage)))
            }
            Direction::MessagesToChat => {
                StreamTranslator::ToMessages(Box::new(ChatToMessages::new()))
            }
            Direction::Responses { via_messages, echo } => StreamTranslator::Responses {
                // The usage chunk carries the usage `response.completed` reports.
                via: via_messages.then(|| Box::new(MessagesToChat::new(true))),
                out: Box::new(ChatToResponses::new(&echo)),
            },
        }
    }

    /// The client's bytes for the upstream's next bytes (often empty,
    /// when an event was cut).
    pub(super) fn feed(&mut self, chunk: &[u8]) -> Bytes {
        Bytes::from(match self {
            StreamTranslator::ToChat(t) => t.feed(chunk),
            StreamTranslator::ToMessages(t) => t.feed(chunk),
            StreamTranslator::Responses { via: None, out } => out.feed(chunk),
            StreamTranslator::Responses { via: Some(v), out } => out.feed(&v.feed(chunk)),
        })
    }

    /// The client's last bytes once the upstream's stream ended.
    pub(super) fn finish(&mut self) -> Bytes {
        Bytes::from(match self {
            StreamTranslator::ToChat(t) => t.finish(),
            StreamTranslator::ToMessages(t) => t.finish(),
            StreamTranslator::Responses { via, out } => {
                let mut bytes = match via {
                    Some(v) => out.feed(&v.finish()),
                    None => Vec::new(),
                };
                bytes.extend_from_slice(&out.finish());
                bytes
            }
        })
    }

    /// The error event that breaks off a Responses stream, numbered after
    /// the events before it; `None` for the other APIs (the gateway writes
    /// theirs).
    pub(super) fn error_event(&mut self, label: &str, message: &str) -> Option<Bytes> {
        match self {
            StreamTranslator::Responses { out, .. } => {
                Some(Bytes::from(out.error_event(label, message)))
            }
            _ => None,
        }
    }
}
