//! Choosing and running a translation for one request: when the client's
//! API (the endpoint it called) differs from the API its route's provider
//! speaks, the request, the answer (whole or streamed) and error answers
//! are converted with [`crate::translate`]. When they match, nothing here
//! touches the bytes: the pass-through path pays for one comparison.
//!
//! The mock provider speaks both APIs natively, so it is never translated
//! to; embeddings exist only in OpenAI's API.

use axum::http::StatusCode;
use bytes::Bytes;

use super::error::ApiError;
use crate::config::ProviderKind;
use crate::ledger::Usage;
use crate::providers::Endpoint;
use crate::translate::stream::{ChatToMessages, MessagesToChat};
use crate::translate::{self, Dropped, RequestOpts, TranslateError};

/// Which way a request is translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// A Chat Completions client, an Anthropic Messages provider.
    ChatToMessages,
    /// A Messages client, an OpenAI-compatible provider.
    MessagesToChat,
}

impl Direction {
    /// The translation a client on `client` needs to reach a provider of
    /// `kind` (`None`: they speak the same API), and the provider's API; an
    /// error when there is none (an embeddings request to an Anthropic
    /// provider).
    pub(super) fn of(
        client: Endpoint,
        kind: ProviderKind,
    ) -> Result<(Option<Direction>, Endpoint), ApiError> {
        Ok(match (kind, client) {
            (ProviderKind::Mock, e) => (None, e),
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
        self,
        body: &[u8],
        opts: &RequestOpts,
    ) -> Result<translate::Translated, ApiError> {
        let out = match self {
            Direction::ChatToMessages => translate::chat_to_messages(body, opts),
            Direction::MessagesToChat => translate::messages_to_chat(body, opts),
        };
        out.map_err(|e| invalid_request(&e))
    }

    /// A whole answer from the upstream in the client's API: its status,
    /// body, usage (successes only) and what it lost. An answer that cannot
    /// be read is the upstream's fault: 502.
    pub(super) fn answer(self, status: StatusCode, body: &[u8]) -> Result<Answer, ApiError> {
        if !status.is_success() {
            let e = match self {
                Direction::ChatToMessages => {
                    translate::error::messages_to_chat(status.as_u16(), body)
                }
                Direction::MessagesToChat => {
                    translate::error::chat_to_messages(status.as_u16(), body)
                }
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
            Direction::MessagesToChat => translate::response::chat_to_messages(body),
        };
        let t = translated.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_invalid",
                format!("the upstream's answer could not be translated for this API: {e}"),
            )
        })?;
        Ok(Answer {
            status,
            body: Bytes::from(t.body),
            usage: Some(t.usage),
            dropped: t.dropped,
        })
    }
}

/// A request that cannot be translated: 400, naming the field.
fn invalid_request(e: &TranslateError) -> ApiError {
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
        }
    }

    /// The client's bytes for the upstream's next bytes (often empty,
    /// when an event was cut).
    pub(super) fn feed(&mut self, chunk: &[u8]) -> Bytes {
        Bytes::from(match self {
            StreamTranslator::ToChat(t) => t.feed(chunk),
            StreamTranslator::ToMessages(t) => t.feed(chunk),
        })
    }

    /// The client's last bytes once the upstream's stream ended.
    pub(super) fn finish(&mut self) -> Bytes {
        Bytes::from(match self {
            StreamTranslator::ToChat(t) => t.finish(),
            StreamTranslator::ToMessages(t) => t.finish(),
        })
    }
}
