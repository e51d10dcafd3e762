//! Complete (non-streamed) answers, both ways: a Messages answer into a
//! chat completion ([`messages_to_chat`]) and back ([`chat_to_messages`]),
//! each with the upstream's usage normalised for the ledger.

mod chat_to_messages;
mod messages_to_chat;

pub use chat_to_messages::chat_to_messages;
pub use messages_to_chat::messages_to_chat;

use crate::ledger::Usage;

use super::Dropped;

/// A translated answer: the client's body, what it lost, and the usage the
/// upstream reported (normalised: uncached input, cached input, cache
/// writes, output, reasoning).
#[derive(Debug)]
pub struct TranslatedResponse {
    pub body: Vec<u8>,
    pub dropped: Dropped,
    pub usage: Usage,
}

/// Seconds since the Unix epoch, for OpenAI's `created` (Anthropic's
/// answers carry no time).
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
