//! Translation between OpenAI's Chat Completions API and Anthropic's
//! Messages API, both ways: requests, complete responses, streams and error
//! answers.
//!
//! Every function here is pure (bytes in, bytes out) so that the gateway can
//! call it on its hot path and the tests can drive it from fixtures. Names
//! say which shape a body is converted from and to: [`chat_to_messages`]
//! turns a Chat Completions request into a Messages request,
//! [`response::messages_to_chat`] turns a Messages answer into a chat
//! completion, [`stream::MessagesToChat`] reads Anthropic's events and writes
//! OpenAI's chunks, and so on.
//!
//! Bodies are read with borrowed serde types (`Cow<str>`, `RawValue` for
//! JSON schemas, tool arguments and streamed text) so that what passes
//! through untouched is copied, not rebuilt. A field the target API cannot
//! express is never dropped silently: it is named in [`Dropped`], which the
//! gateway sends as `x-tokctl-dropped`; docs/translation.md lists every
//! field in both directions.
//!
//! Not here: choosing when to translate (the gateway's routing) and the
//! ledger's `upstream_api`.

mod anthropic;
mod de;
pub mod error;
mod mapping;
mod openai;
pub mod request;
pub mod response;
pub mod responses;
mod sse;
pub mod stream;
pub mod usage;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

pub use request::{RequestOpts, chat_to_messages, messages_to_chat};

/// A translated request: the body for the upstream and what it lost.
#[derive(Debug)]
pub struct Translated {
    pub body: Vec<u8>,
    pub dropped: Dropped,
    /// The client asked for a stream (the upstream is asked for one too).
    pub stream: bool,
    /// A Chat client asked for the final usage chunk
    /// (`stream_options.include_usage`): give it to [`stream::MessagesToChat`].
    pub include_usage: bool,
}

/// Fields the target API cannot express, in the order first met, each once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Dropped(Vec<Cow<'static, str>>);

impl Dropped {
    /// Records `name` (a path such as `messages[].name`) once.
    pub fn push(&mut self, name: impl Into<Cow<'static, str>>) {
        let name = name.into();
        if !self.0.contains(&name) {
            self.0.push(name);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|n| n == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|n| n.as_ref())
    }

    /// The `x-tokctl-dropped` header value: names joined by `, `; `None`
    /// when nothing was dropped (the header is then left out).
    pub fn header_value(&self) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        Some(self.0.join(", "))
    }
}

/// Why a body could not be translated. The gateway answers these with 400
/// (a request) or 502 (an upstream's answer); the message names the field.
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    #[error("the body is not a valid {api} {what}: {source}")]
    Json {
        api: &'static str,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
}

impl TranslateError {
    /// Reads `body` as `T`, the `what` (request, answer) of `api`: how
    /// every translator reads its input, so that every error names both.
    fn read<'a, T: serde::Deserialize<'a>>(
        body: &'a [u8],
        api: &'static str,
        what: &'static str,
    ) -> Result<T, Self> {
        serde_json::from_slice(body).map_err(|source| Self::Json { api, what, source })
    }

    fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
