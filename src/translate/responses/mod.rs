//! OpenAI's Responses API translated to and from Chat Completions: a
//! Responses request becomes a Chat Completions request
//! ([`responses_to_chat`]), a chat completion becomes a Response object
//! ([`chat_to_responses`]) and a chunk stream becomes the Responses event
//! stream ([`ChatToResponses`]). Anthropic is reached through Chat
//! Completions: the gateway chains these with the Chat ⇄ Messages
//! translators of the parent module, so there is one mapping per pair of
//! APIs rather than one per path.
//!
//! The translated route is stateless: nothing is stored, so the fields that
//! need a stored response or conversation (`previous_response_id`,
//! `store: true`, `conversation`, `background`, `prompt`) are refused
//! ([`ResponsesError::Stateless`]) rather than dropped, and every answer
//! says `store: false`. The request's own settings are echoed in the
//! answer as the API does ([`Echo`]).
//!
//! Not here: pass-through to a provider that serves the Responses API
//! (the bytes are not touched) and reading its usage
//! (`crate::providers::usage`).

mod answer;
mod echo;
mod input;
mod object;
mod request;
mod stream;
pub mod usage;
mod write;

#[cfg(test)]
mod reference_tests;
#[cfg(test)]
mod tests;

pub use answer::chat_to_responses;
pub use echo::Echo;
pub use request::responses_to_chat;
pub use stream::ChatToResponses;

use super::TranslateError;

/// Why a Responses request cannot go to a translated route.
#[derive(Debug, thiserror::Error)]
pub enum ResponsesError {
    /// The request needs state the gateway does not keep: a 400 naming
    /// the field.
    #[error("{message}")]
    Stateless {
        param: &'static str,
        message: String,
    },
    /// The body is not a Responses request the translator can read.
    #[error(transparent)]
    Translate(#[from] TranslateError),
}

/// The fields that need stored state, each with why it is refused: checked
/// before anything else is read.
const STATEFUL: &[(&str, &str)] = &[
    (
        "previous_response_id",
        "this model's route translates the Responses API and keeps no responses, so \
         `previous_response_id` cannot be resolved; send the earlier turns in `input` instead",
    ),
    (
        "conversation",
        "this model's route translates the Responses API and keeps no conversations; send the \
         conversation's items in `input` instead",
    ),
    (
        "store",
        "this model's route translates the Responses API and stores nothing: leave `store` out \
         or set it to false",
    ),
    (
        "background",
        "this model's route translates the Responses API and cannot run it in the background \
         (that needs a stored response to poll): leave `background` out or set it to false",
    ),
    (
        "prompt",
        "this model's route translates the Responses API and has no stored prompt templates: \
         send the prompt's text in `instructions` and `input` instead",
    ),
];

/// The refusal for a top-level field set to a value that needs state
/// (`false` and `null` need none).
fn stateful(key: &str, value: &serde_json::Value) -> Option<ResponsesError> {
    let (param, why) = STATEFUL.iter().find(|(k, _)| *k == key)?;
    if value.is_null() || *value == serde_json::Value::Bool(false) {
        return None;
    }
    Some(ResponsesError::Stateless {
        param,
        message: (*why).to_string(),
    })
}

/// An id for an output item: `prefix` and the response's own id, so that
/// ids are unique per response and stable between a stream's events.
fn item_id(prefix: &str, response_id: &str, n: usize) -> String {
    let base = response_id.strip_prefix("resp_").unwrap_or(response_id);
    format!("{prefix}_{base}_{n}")
}
