//! Streams, both ways, event by event: [`MessagesToChat`] reads Anthropic's
//! server-sent events and writes OpenAI chunks, [`ChatToMessages`] the
//! reverse. Each is fed the upstream's bytes as they arrive (a chunk may
//! end anywhere, mid-event included), returns the client's bytes for every
//! event completed so far, and holds back only the unfinished tail.

mod chat_to_messages;
mod events;
mod messages_to_chat;

use crate::ledger::Usage;
use crate::translate::Dropped;
use crate::translate::sse::Splitter;

/// Reads a Chat Completions chunk stream, writes the Messages event stream
/// a client asked for.
pub type ChatToMessages = Translator<chat_to_messages::State>;

/// Reads an Anthropic Messages event stream, writes the Chat Completions
/// chunk stream a client asked for.
pub type MessagesToChat = Translator<messages_to_chat::State>;

/// A stream translator: the event splitter and one direction's state. The
/// direction is a type parameter, so each is its own monomorphised code.
#[derive(Debug, Default)]
pub struct Translator<S> {
    splitter: Splitter,
    st: S,
}

/// What a direction does with each complete event of the upstream's.
pub trait Direction {
    /// Room reserved per fed chunk beyond its length for the client's
    /// framing, so that most chunks need one allocation.
    const SLACK: usize;

    /// Translates one complete event, appending the client's bytes.
    fn event(&mut self, ev: &[u8], out: &mut Vec<u8>);

    /// The upstream's stream ended (after its last event).
    fn end(&mut self, out: &mut Vec<u8>) {
        let _ = out;
    }

    fn outcome(&self) -> &Outcome;
}

/// What both directions learn from a stream.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The usage the upstream reported (normalised), once it has.
    usage: Option<Usage>,
    /// `message_stop` (or an error event) was seen or written.
    done: bool,
    /// What the client's events could not carry.
    dropped: Dropped,
}

impl<S: Direction> Translator<S> {
    /// Feeds the upstream's next bytes; returns the client's bytes for the
    /// events they completed (often none, when an event was cut).
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len() + S::SLACK);
        let st = &mut self.st;
        self.splitter.feed(chunk, |ev| st.event(ev, &mut out));
        out
    }

    /// The end of the upstream's stream: translates an event left without
    /// its blank line, then lets the direction close what it must.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let st = &mut self.st;
        self.splitter.finish(|ev| st.event(ev, &mut out));
        st.end(&mut out);
        out
    }

    /// The usage the upstream reported (normalised), once it has.
    pub fn usage(&self) -> Option<Usage> {
        self.st.outcome().usage
    }

    /// The stream is complete: `message_stop` (or an error event) was seen
    /// or written.
    pub fn is_done(&self) -> bool {
        self.st.outcome().done
    }

    /// What the client's events could not carry (signatures, citations…).
    pub fn dropped(&self) -> &Dropped {
        &self.st.outcome().dropped
    }
}
