//! Requests, both ways: a Chat Completions body into a Messages body
//! ([`chat_to_messages`]) and back ([`messages_to_chat`]).
//!
//! Each direction reads the client's body in one pass with a hand-written
//! map visitor, so that every top-level field the target cannot express,
//! known or not, is named in [`Dropped`](super::Dropped) rather than
//! ignored.

mod chat_content;
mod chat_in;
mod chat_to_messages;
mod messages_in;
mod messages_to_chat;

pub use chat_to_messages::chat_to_messages;
pub use messages_to_chat::messages_to_chat;

/// What the gateway knows about the upstream that the client's body does
/// not say.
#[derive(Debug, Clone, Copy)]
pub struct RequestOpts<'a> {
    /// The model name the upstream knows (the deployment's), written into
    /// the body in place of the client's.
    pub model: &'a str,
    /// Anthropic requires `max_tokens`: used when a Chat client sent
    /// neither `max_tokens` nor `max_completion_tokens` (the per-model
    /// `max_tokens_default`).
    pub max_tokens_default: u32,
    /// Messages → Chat: the upstream takes the fields vLLM, SGLang and
    /// DeepSeek accept beyond OpenAI's (`top_k`, `reasoning_content` in
    /// assistant turns). Off for OpenAI itself, which refuses unknown fields,
    /// so those are dropped (and listed).
    pub chat_extensions: bool,
    /// Messages → Chat: send `max_tokens` rather than
    /// `max_completion_tokens`, for older OpenAI-compatible servers.
    pub legacy_max_tokens: bool,
}

impl<'a> RequestOpts<'a> {
    /// Options for `model` with the defaults: 4096 tokens when a Chat
    /// client sets no limit, no extensions, `max_completion_tokens`.
    pub fn new(model: &'a str) -> Self {
        Self {
            model,
            max_tokens_default: 4096,
            chat_extensions: false,
            legacy_max_tokens: false,
        }
    }
}
