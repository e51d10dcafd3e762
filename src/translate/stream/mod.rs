//! Streams, both ways, event by event: [`MessagesToChat`] reads Anthropic's
//! server-sent events and writes OpenAI chunks, [`ChatToMessages`] the
//! reverse. Each is fed the upstream's bytes as they arrive (a chunk may
//! end anywhere, mid-event included), returns the client's bytes for every
//! event completed so far, and holds back only the unfinished tail.

mod chat_to_messages;
mod events;
mod messages_to_chat;

pub use chat_to_messages::ChatToMessages;
pub use messages_to_chat::MessagesToChat;
